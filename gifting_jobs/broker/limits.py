"""The Redis side of provider rate limits: acquire, release, cooldowns, snoozes and their figures.

One Lua script call per acquire checks a provider key's cooldown, its calls in
flight, the spacing of its requests and its sliding token window, and admits
the call at its turn or says how long until it. Why not `dramatiq.rate_limits`:
its limiters are one concern each (a window *or* a bucket *or* a concurrency
count, so two or three round trips per call), they count calls only, never
tokens, and a refusal does not say when to come back, which a snooze needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from uuid import uuid4

from gifting_jobs.broker import scripts
from gifting_jobs.broker.keys import RateLimitKeys

if TYPE_CHECKING:
    from dramatiq.message import Message

    from gifting_jobs.broker.redis_broker import RedisBroker
    from gifting_jobs.conf import ProviderRateLimit

#: How long a call refused for lack of a concurrency slot waits before asking again (ms).
CONCURRENCY_RETRY_MS = 50
#: Calls are remembered at least this long, so "calls in the last minute" can be shown.
MIN_RETENTION_MS = 60_000
#: What "recent calls" covers in the figures (ms).
RECENT_SPAN_MS = 60_000
#: Each cooldown that starts slows the provider's pace by this factor (5%: the limiter counts
#: admissions, the provider arrivals), up to the cap, until no 429 came for the slowdown's time.
SLOWDOWN_STEP = 1.05
SLOWDOWN_CAP = 1.5
#: How long a slowdown lasts after its last 429, in windows of the provider (at least a minute).
SLOWDOWN_WINDOWS = 10


class Refusal:
    """Why an acquire was refused (the script's reason strings)."""

    COOLDOWN = "cooldown"
    CONCURRENCY = "concurrency"
    REQUESTS = "requests"
    TOKENS = "tokens"
    TOO_BIG = "too_big"


@dataclass(frozen=True, slots=True)
class Grant:
    """An admitted call: sleep `wait_s`, call, then release `lease` (with the tokens used)."""

    provider: str
    lease: str
    tokens: int
    wait_s: float
    #: Whether the call holds a concurrency slot (then release is needed even without token correction).
    holds_slot: bool
    #: Jobs of this provider snoozed right now.
    snoozed: int


@dataclass(frozen=True, slots=True)
class Denial:
    """A refused call: its turn (or the cooldown's end) is `retry_in_s` away."""

    provider: str
    retry_in_s: float
    reason: str
    snoozed: int


@dataclass(frozen=True, slots=True)
class ProviderFigures:
    """A provider key's limiter now: cooldown left, calls in the last minute, in flight, snoozed jobs."""

    provider: str
    cooldown_s: float
    calls_last_minute: int
    in_flight: int
    snoozed: int
    #: The factor the pace is slowed by after a 429 (1: the configured pace).
    slowdown: float = 1.0


def _float(value: bytes | str | float) -> float:
    return float(value.decode() if isinstance(value, bytes) else value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ProviderLimits:
    """Provider rate limits of one broker namespace (`broker.limits`)."""

    def __init__(self, broker: RedisBroker) -> None:
        self._broker = broker
        client = broker.client
        self._acquire = client.register_script(scripts.ACQUIRE)
        self._release = client.register_script(scripts.RELEASE)
        self._cool_down = client.register_script(scripts.COOL_DOWN)
        self._snooze = client.register_script(scripts.SNOOZE)
        self._stats = client.register_script(scripts.LIMIT_STATS)

    def _keys(self, provider: str) -> RateLimitKeys:
        return self._broker.keys.rate_limit(provider)

    def acquire(self, provider: str, limit: ProviderRateLimit, *, tokens: int = 0) -> Grant | Denial:
        """Ask for one call of `provider` costing `tokens`; one script call.

        A `Denial` with reason `too_big` means the call alone exceeds the token
        window: it can never be admitted, the caller must split it.
        """
        window_ms = limit.window_seconds * 1000
        requests = limit.requests_per_window
        lease = uuid4().hex
        granted, wait_ms, reason, snoozed = self._broker._run(
            self._acquire,
            self._keys(provider).all(),
            [
                lease,
                max(0, int(tokens)),
                window_ms / requests if requests else 0,
                limit.tokens_per_window or 0,
                window_ms,
                limit.max_concurrent or 0,
                int(limit.lease_seconds * 1000),
                int(limit.max_wait_seconds * 1000),
                max(window_ms, MIN_RETENTION_MS),
                CONCURRENCY_RETRY_MS,
            ],
        )
        seconds = _float(wait_ms) / 1000
        if int(granted) == 1:
            return Grant(provider, lease, max(0, int(tokens)), seconds, bool(limit.max_concurrent), int(snoozed))
        return Denial(provider, seconds, _text(reason), int(snoozed))

    def release(self, grant: Grant, *, used_tokens: int | None = None) -> None:
        """The call is over: free its slot and correct its tokens; no round trip when neither is needed."""
        used = grant.tokens if used_tokens is None else max(0, int(used_tokens))
        if not grant.holds_slot and used == grant.tokens:
            return
        keys = self._keys(grant.provider)
        self._broker._run(self._release, [keys.calls, keys.window, keys.leases], [grant.lease, grant.tokens, used])

    def cool_down(self, provider: str, seconds: float, *, window_seconds: float = 60.0) -> float:
        """Nobody calls `provider` for `seconds` (never shortening a longer cooldown); returns the seconds left.

        A cooldown that starts also slows the provider's pace by `SLOWDOWN_STEP`
        (up to `SLOWDOWN_CAP`) for `SLOWDOWN_WINDOWS` windows.
        """
        keys = self._keys(provider)
        slowdown_ms = int(max(window_seconds * SLOWDOWN_WINDOWS, MIN_RETENTION_MS / 1000) * 1000)
        left = self._broker._run(
            self._cool_down,
            [keys.cooldown, keys.slowdown],
            [max(0.0, seconds) * 1000, SLOWDOWN_STEP, SLOWDOWN_CAP, slowdown_ms],
        )
        return _float(left) / 1000

    def snooze(
        self, message: Message[Any], *, provider: str, delay_ms: int, lock_ttl_ms: int, hold: bool
    ) -> str | None:
        """Re-enqueue a running job's message after `delay_ms`, keeping (and extending) its id lock.

        With `hold`, nothing is pushed: the lock passes to the message's held
        copy, which the caller writes to Postgres for the relay. Returns None,
        or the owner of the id when another message owns it (nothing done).
        """
        broker = self._broker
        job_id = message.options["job_id"]
        if hold:
            lock = broker.keys.lock(job_id)
            keys = [lock, "", "", self._keys(provider).snoozed]
            args: list[Any] = [message.message_id, lock_ttl_ms, "", "", "hold", job_id, delay_ms]
        else:
            # Imported here: the broker module imports this one.
            from gifting_jobs.broker.redis_broker import SendMode

            # The same copy a plain send makes: a new Redis id, the delay queue, the eta.
            call = broker._unique_call(message, lock_ttl_ms, delay_ms, SendMode.SEND)
            message = call.message()
            # Lock, delay queue and its messages (a delay queue is polled: no wake-up key).
            keys = [*call.keys[:3], self._keys(provider).snoozed]
            args = [*call.args[:4], "delay", job_id, delay_ms]
            broker.emit_before("enqueue", message, delay_ms)
        owner = broker._run(self._snooze, keys, args)
        if owner is not None:
            return _text(owner)
        if not hold:
            broker.emit_after("enqueue", message, delay_ms)
        return None

    def figures(self, provider: str) -> ProviderFigures:
        """The provider key's cooldown, recent calls, calls in flight and snoozed jobs, now."""
        keys = self._keys(provider)
        cooldown, recent, in_flight, snoozed, slowdown = self._broker._run(
            self._stats, [keys.cooldown, keys.calls, keys.leases, keys.snoozed, keys.slowdown], [RECENT_SPAN_MS]
        )
        return ProviderFigures(
            provider, _float(cooldown) / 1000, int(recent), int(in_flight), int(snoozed), _float(slowdown)
        )

    def tokens_in_window(self, provider: str, *, window_s: float) -> int:
        """Tokens of the calls admitted in the last `window_s` (reservations included): a read, for sizing batches."""
        since = (time.time() - window_s) * 1000
        members = cast(
            list[bytes | str], self._broker.client.zrangebyscore(self._keys(provider).calls, f"({since}", "+inf")
        )
        return sum(int(_text(member).rpartition(":")[2]) for member in members)

    def reset(self, provider: str | None = None) -> int:
        """Forget the limiter state (cooldown, window, slots, snooze figures) of one provider key, or of all."""
        prefix = self._broker.keys.rate_limit_prefix
        keys = list(self._broker.client.scan_iter(match=f"{prefix}{provider or '*'}:*", count=1000))
        return int(self._broker.client.delete(*keys)) if keys else 0

    def known_providers(self) -> list[str]:
        """Provider keys that have limiter state in Redis now (called, cooling down, or with snoozed jobs)."""
        prefix = self._broker.keys.rate_limit_prefix
        found = set()
        for key in self._broker.client.scan_iter(match=f"{prefix}*", count=1000):
            found.add(_text(key).removeprefix(prefix).rpartition(":")[0])
        return sorted(found)
