"""Seeded generator of hostile CMS webhook bodies, shared by the webhook fuzz test and the fault suite.

`known_hostile_bodies()` are the cases an attack found (out-of-range
`updatedAt`, NUL and lone surrogates, deep nesting, huge integers, huge
prices); `fuzzed_bodies(seed, count)` mutates valid documents field by field
with wrong types and hostile values, so a share of them is valid and stored.
Every body is raw bytes, ready to be signed and POSTed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

#: The events the webhook knows, plus names it must refuse.
EVENTS = ("product.created", "product.updated", "product.deleted")
UNKNOWN_EVENTS = ("product.upserted", "PRODUCT.CREATED", "", "order.created")
#: A small pool of product ids, so fuzzed updates and deletes hit rows earlier bodies stored.
PRODUCT_IDS = tuple(f"fuzz-{n}" for n in range(12))
#: Nesting depth beyond Python's recursion limit (the attack used 5,000 and more).
DEEP_NESTING = 5_000
#: More digits than Python converts from text by default (4,300).
HUGE_INTEGER_DIGITS = 4_301
#: The CMS fields a mutation may touch (camelCase, as sent).
DOC_FIELDS = (
    "id",
    "title",
    "description",
    "brand",
    "price",
    "currency",
    "status",
    "visibleToGifter",
    "isFeatured",
    "tags",
    "updatedAt",
)
#: `updatedAt` values no aware datetime can hold once converted to UTC, or that are not dates at all.
HOSTILE_TIMESTAMPS = (
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999-00:01",
    "0001-01-01T00:00:00.000001+00:01",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-11-01T10:00:00",
    "2026-11-01",
    "not a date",
    "",
    253402300800,
    -62135596801,
    10**20,
)
#: Strings Postgres or UTF-8 cannot hold, and merely unusual ones it can.
HOSTILE_STRINGS = (
    "\x00",
    "gift\x00wrap",
    "\ud800",
    "mug \udfff",
    "\ud83c",
    "\udc80\ud800",
    " ",
    "",
    "\u202e\u200b",
    "🎁" * 40,
    "x" * 600,
    "'; DROP TABLE gifting_jobs_product; --",
)
#: Prices that overflow the column, are not finite, or are not numbers.
HOSTILE_PRICES = (
    "1e999999999",
    "-1",
    "12345678901234567890",
    "0.001",
    "NaN",
    "Infinity",
    1e308,
    -0.0,
    10**30,
    "ten euros",
    [],
    {},
    True,
)


@dataclass(frozen=True)
class HostileBody:
    """One webhook body and what it is, for failure messages."""

    label: str
    body: bytes


def _dumps(value: Any) -> bytes:
    """JSON as a CMS might send it; lone surrogates become `\\udXXX` escapes, as in the attack."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def valid_doc(product_id: str, updated_at: str) -> dict[str, Any]:
    """A complete, valid CMS product document."""
    return {
        "id": product_id,
        "title": "Hand-thrown ceramic mug",
        "description": "A speckled stoneware mug, glazed by hand.",
        "brand": "Clayworks",
        "price": "24.50",
        "currency": "EUR",
        "status": "PUBLISHED",
        "visibleToGifter": True,
        "isFeatured": False,
        "tags": ["kitchen", "handmade"],
        "updatedAt": updated_at,
    }


def _nested(depth: int, *, opener: str = "[", closer: str = "]", leaf: str = "1") -> str:
    return opener * depth + leaf + closer * depth


def known_hostile_bodies() -> Iterator[HostileBody]:
    """The specific bodies that answered 500 or stored unreadable rows before they were refused."""
    for index, stamp in enumerate(HOSTILE_TIMESTAMPS):
        for event in EVENTS:
            doc = valid_doc(f"ts-{index}", "2026-11-01T10:00:00Z")
            doc["updatedAt"] = stamp
            yield HostileBody(f"updatedAt={stamp!r} on {event}", _dumps({"event": event, "doc": doc}))
    for field in ("id", "title", "description", "brand", "currency", "status"):
        for text in HOSTILE_STRINGS:
            doc = valid_doc("str-case", "2026-11-01T10:00:00Z")
            doc[field] = text
            yield HostileBody(f"{field}={text[:12]!r}", _dumps({"event": "product.created", "doc": doc}))
    for text in HOSTILE_STRINGS:
        doc = valid_doc("tag-case", "2026-11-01T10:00:00Z")
        doc["tags"] = ["ok", text]
        yield HostileBody(f"tag={text[:12]!r}", _dumps({"event": "product.created", "doc": doc}))
        yield HostileBody(f"event={text[:12]!r}", _dumps({"event": text, "doc": doc}))
        yield HostileBody(
            f"deleted title={text[:12]!r}",
            _dumps({"event": "product.deleted", "doc": {"id": "tomb-case", "title": text}}),
        )
    for depth in (DEEP_NESTING, DEEP_NESTING * 4):
        yield HostileBody(f"array nested {depth}", _nested(depth).encode())
        yield HostileBody(f"object nested {depth}", _nested(depth, opener='{"a":', closer="}").encode())
        doc_prefix = '{"event":"product.created","doc":'
        yield HostileBody(
            f"doc nested {depth}", (doc_prefix + _nested(depth, opener='{"a":', closer="}") + "}").encode()
        )
        tags = '{"event":"product.created","doc":{"id":"deep","title":"t","updatedAt":"2026-11-01T10:00:00Z","tags":'
        yield HostileBody(f"tags nested {depth}", (tags + _nested(depth) + "}}").encode())
        extra = '{"event":"product.created","doc":{"id":"deep","title":"t","updatedAt":"2026-11-01T10:00:00Z","x":'
        yield HostileBody(f"ignored field nested {depth}", (extra + _nested(depth) + "}}").encode())
    huge = "9" * HUGE_INTEGER_DIGITS
    for field in ("id", "price", "updatedAt", "title", "visibleToGifter"):
        text = f'{{"event":"product.created","doc":{{"id":"huge","title":"t","updatedAt":"2026-11-01T10:00:00Z","{field}":{huge}}}}}'
        yield HostileBody(f"{field} with {HUGE_INTEGER_DIGITS} digits", text.encode())
    yield HostileBody("top-level huge integer", huge.encode())
    for price in HOSTILE_PRICES:
        doc = valid_doc("price-case", "2026-11-01T10:00:00Z")
        doc["price"] = price
        yield HostileBody(f"price={price!r}"[:60], _dumps({"event": "product.created", "doc": doc}))
    for raw in (b"", b"\xff\xfe", b"{", b"null", b"[]", b'"text"', b"\x00", b'{"event":"product.created"}'):
        yield HostileBody(f"raw {raw[:10]!r}", raw)


def _hostile_value(rng: random.Random) -> Any:
    """Any JSON value a broken or malicious CMS might put in a field."""
    pick = rng.randrange(12)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice((True, False))
    if pick == 2:
        return rng.choice((0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10 ** rng.randrange(1, 400)))
    if pick == 3:
        return rng.choice((0.5, -1e-300, 1e308, float("inf"), float("-inf"), float("nan")))
    if pick == 4:
        return rng.choice(HOSTILE_STRINGS)
    if pick == 5:
        return rng.choice(HOSTILE_TIMESTAMPS)
    if pick == 6:
        return rng.choice(HOSTILE_PRICES)
    if pick == 7:
        return [rng.choice(HOSTILE_STRINGS) for _ in range(rng.randrange(4))]
    if pick == 8:
        return {"nested": rng.choice(HOSTILE_STRINGS)}
    if pick == 9:
        return "".join(chr(rng.randrange(0x0, 0x11_0000)) for _ in range(rng.randrange(1, 12)))
    if pick == 10:
        return ["tag"] * rng.randrange(95, 110)
    return rng.choice(EVENTS)


def _valid_timestamp(rng: random.Random) -> str:
    """A plausible `updatedAt`, in any of the offsets a CMS uses."""
    offset = rng.choice(("Z", "+00:00", "+14:00", "-12:00", "+05:30"))
    return f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00{offset}"


def _mutated_body(rng: random.Random) -> tuple[str, Any]:
    event = rng.choice(EVENTS) if rng.random() < 0.95 else rng.choice(UNKNOWN_EVENTS)
    doc: dict[str, Any] = valid_doc(rng.choice(PRODUCT_IDS), _valid_timestamp(rng))
    mutations = []
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        field = rng.choice(DOC_FIELDS)
        if rng.random() < 0.15:
            doc.pop(field, None)
            mutations.append(f"-{field}")
        else:
            doc[field] = _hostile_value(rng)
            mutations.append(f"{field}={doc[field]!r}"[:40])
    body: Any = {"event": event, "doc": doc}
    if rng.random() < 0.05:
        body = rng.choice((doc, [body], {"event": event, "doc": _hostile_value(rng)}, _hostile_value(rng)))
        mutations.append("envelope")
    return f"{event} {' '.join(mutations) or 'valid'}", body


_Structural = Callable[[random.Random], bytes]


def _deep(rng: random.Random) -> bytes:
    return _nested(
        rng.randrange(DEEP_NESTING, DEEP_NESTING * 2), opener=rng.choice(("[", '{"k":')), closer="]"
    ).encode()


def _huge_int(rng: random.Random) -> bytes:
    digits = "".join(
        rng.choice("0123456789") for _ in range(rng.randrange(HUGE_INTEGER_DIGITS, HUGE_INTEGER_DIGITS + 50))
    )
    return f'{{"event":"product.updated","doc":{{"id":"{rng.choice(PRODUCT_IDS)}","price":1{digits}}}}}'.encode()


def _garbage(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))


def _truncated(rng: random.Random) -> bytes:
    _, body = _mutated_body(rng)
    raw = _dumps(body)
    return raw[: rng.randrange(len(raw))] if raw else raw


STRUCTURAL: tuple[_Structural, ...] = (_deep, _huge_int, _garbage, _truncated)


def fuzzed_bodies(seed: int, count: int) -> Iterator[HostileBody]:
    """`count` bodies from a seeded generator: the same seed gives the same bodies."""
    rng = random.Random(seed)
    for index in range(count):
        if rng.random() < 0.08:
            maker = rng.choice(STRUCTURAL)
            yield HostileBody(f"#{index} {maker.__name__.strip('_')}", maker(rng))
            continue
        label, body = _mutated_body(rng)
        yield HostileBody(f"#{index} {label}", _dumps(body))
