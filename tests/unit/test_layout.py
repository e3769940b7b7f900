"""The code's layout rules that a reviewer would otherwise have to remember.

Redis keys, Lua scripts and Dramatiq's internals live in `gifting_jobs/broker/`
alone; enum pairs that mirror each other stay equal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gifting_jobs.models import Channel, Surface
from gifting_jobs.payloads import ChannelName, SurfaceName

APP = Path(__file__).resolve().parents[2] / "gifting_jobs"
BROKER_PACKAGE = APP / "broker"

#: What only the broker package may spell: its client, Dramatiq's key names and suffixes, our key layout.
BROKER_ONLY = {
    "the Redis client": re.compile(r"\.client\.(?!chat|embeddings)\w+|broker\.client\b"),
    "Dramatiq's ack/heartbeat keys": re.compile(r"__acks__|__heartbeats__"),
    "queue suffixes": re.compile(r"""["']\.(DQ|XQ|msgs)["']"""),
    "the held lock-owner encoding": re.compile(r"""["']held:"""),
    "lock keys": re.compile(r"\.lock_key\(|\bbroker\.key\("),
    "the Redis namespace": re.compile(r"namespace\}:"),
}


def app_modules_outside_broker() -> list[Path]:
    return [path for path in APP.rglob("*.py") if BROKER_PACKAGE not in path.parents and "migrations" not in path.parts]


@pytest.mark.parametrize("what", sorted(BROKER_ONLY))
def test_only_the_broker_package_knows_redis(what: str) -> None:
    pattern = BROKER_ONLY[what]
    offenders = [
        f"{path.relative_to(APP.parent)}:{number}: {line.strip()}"
        for path in app_modules_outside_broker()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders, f"{what} spelled outside gifting_jobs/broker/:\n" + "\n".join(offenders)


def test_the_rule_catches_a_key_spelled_elsewhere() -> None:
    assert BROKER_ONLY["Dramatiq's ack/heartbeat keys"].search('prefix = f"{ns}:__acks__."')
    assert BROKER_ONLY["the Redis client"].search("broker.client.get(key)")
    assert BROKER_ONLY["queue suffixes"].search('name.removesuffix(".DQ")')
    assert not BROKER_ONLY["the Redis client"].search("self.client.embeddings.create(")


def test_payload_enums_mirror_the_model_choices() -> None:
    assert {s.value for s in SurfaceName} == set(Surface.values)
    assert {c.value for c in ChannelName} == set(Channel.values)
