"""The Redis key layout: Dramatiq's keys and gifting_jobs' own, in one place.

Dramatiq's layout (dramatiq/brokers/redis/dispatch.lua), for a physical queue
`q` in namespace `ns`:

| key                         | type | holds                                              |
|-----------------------------|------|----------------------------------------------------|
| `ns:q`                      | list | ready message ids                                  |
| `ns:q.msgs`                 | hash | message id -> encoded message                      |
| `ns:q.DQ`                   | list | delayed messages not yet fetched by a worker       |
| `ns:__acks__.<worker>.q`    | set  | fetched, not yet acked: in flight                  |
| `ns:__acks__.<worker>.q.DQ` | set  | delayed messages a worker holds in memory till eta |
| `ns:q.XQ`                   | zset | Dramatiq's own dead letters of the queue           |
| `ns:__heartbeats__`         | zset | worker id -> last heartbeat (ms)                   |

gifting_jobs' own state lives under `ns:gj:`: job-id locks, delivery and start
counters of messages, recent durations per job type, marks (scheduling), the
wake-up lists idle consumers block on (`notify` per physical queue, `wake` per
consumer, see `consumer`), dead letters waiting for Postgres
(`ns:gj:dead-letters`, a hash keyed by job id), the paused logical queues
(`ns:gj:paused`, a set of names, see `pausing`), the worker registry
(`ns:gj:workers`, a zset of worker ids by last beat, and `ns:gj:worker:<id>`,
a JSON record that expires a heartbeat timeout after its last beat, see
`registry`), and per provider key the rate-limit state
(`ns:gj:rl:<provider>:<part>`):

| part       | type   | holds                                                        |
|------------|--------|--------------------------------------------------------------|
| `next`     | string | ms timestamp of the next free request slot (even spacing)    |
| `calls`    | zset   | `<lease>:<tokens>` -> admission time (ms), the sliding window |
| `window`   | hash   | `sum` of tokens admitted after `cursor` (ms)                 |
| `leases`   | zset   | lease id -> expiry (ms): calls in flight (concurrency)       |
| `cooldown` | string | ms timestamp until which nobody calls (a Retry-After)        |
| `snoozed`  | zset   | job id -> ms timestamp its snooze ends                       |
| `slowdown` | string | factor (>= 1) the pace is slowed by after a 429, for a while |

Each logical queue `q` has a quarantine lane, the physical queue `q.quarantine`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Suffix of a queue's delay queue (Dramatiq's `dq_name`).
DELAY_SUFFIX = ".DQ"
#: Suffix of a queue's dead-letter set (Dramatiq's `xq_name`).
DEAD_SUFFIX = ".XQ"
#: Suffix of the hash holding a queue's encoded messages.
MESSAGES_SUFFIX = ".msgs"
#: Suffix of a logical queue's quarantine lane: a message redelivered after its worker
#: died runs there, one at a time per worker process, alone in it.
QUARANTINE_SUFFIX = ".quarantine"
#: A job id lock whose owner is `held:<message id>` is taken by a job waiting in Postgres.
HELD_PREFIX = "held:"


def held_owner(message_id: str) -> str:
    """The lock owner that marks a job as held in Postgres (see the send script)."""
    return HELD_PREFIX + message_id


def owner_message_id(owner: str) -> str:
    """The message id behind a lock owner, held in Postgres or sent."""
    return owner.removeprefix(HELD_PREFIX)


def base_queue(physical: str) -> str:
    """A physical queue's name without its delay or dead-letter suffix."""
    return physical.removesuffix(DELAY_SUFFIX).removesuffix(DEAD_SUFFIX)


def is_auxiliary_queue(name: str) -> bool:
    """Whether a declared queue is a delay, dead-letter or quarantine queue rather than a logical queue's band."""
    return name.endswith((DELAY_SUFFIX, DEAD_SUFFIX, QUARANTINE_SUFFIX))


def quarantine_queue(logical: str) -> str:
    """The quarantine lane of a logical queue."""
    return logical + QUARANTINE_SUFFIX


def is_quarantine_queue(name: str) -> bool:
    return name.endswith(QUARANTINE_SUFFIX)


def glob_escape(text: str) -> str:
    """`text` as a literal inside a Redis MATCH pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Every key of one broker namespace."""

    namespace: str

    def queue(self, physical: str) -> str:
        return f"{self.namespace}:{physical}"

    def messages(self, physical: str) -> str:
        return f"{self.namespace}:{physical}{MESSAGES_SUFFIX}"

    def delay_queue(self, physical: str) -> str:
        return f"{self.namespace}:{physical}{DELAY_SUFFIX}"

    def dead_queue(self, physical: str) -> str:
        return f"{self.namespace}:{physical}{DEAD_SUFFIX}"

    @property
    def heartbeats(self) -> str:
        return f"{self.namespace}:__heartbeats__"

    @property
    def acks_prefix(self) -> str:
        return f"{self.namespace}:__acks__."

    def acks(self, worker_id: str, physical: str) -> str:
        return f"{self.acks_prefix}{worker_id}.{physical}"

    def own(self, *parts: str) -> str:
        """A key of gifting_jobs' own state."""
        return ":".join((self.namespace, "gj", *parts))

    def lock(self, job_id: str) -> str:
        return self.own("lock", job_id)

    def deliveries(self, redis_message_id: str) -> str:
        return self.own("deliveries", redis_message_id)

    def starts(self, redis_message_id: str) -> str:
        return self.own("starts", redis_message_id)

    def durations(self, job_type: str) -> str:
        return self.own("durations", job_type)

    @property
    def pending_dead_letters(self) -> str:
        return self.own("dead-letters")

    def mark(self, *parts: str) -> str:
        return self.own("mark", *parts)

    def rate_limit(self, provider: str) -> RateLimitKeys:
        """The rate-limit keys of one provider key."""
        return RateLimitKeys(self.own("rl", provider))

    @property
    def rate_limit_prefix(self) -> str:
        """What every rate-limit key starts with (for listing provider keys)."""
        return self.own("rl", "")

    def notify(self, physical: str) -> str:
        """The list a send pushes a token onto so that an idle consumer of `physical` wakes up."""
        return self.own("notify", physical)

    def wake(self, consumer_id: str) -> str:
        """The list one consumer also blocks on, pushed to when its worker stops."""
        return self.own("wake", consumer_id)

    @property
    def paused(self) -> str:
        """The set of paused logical queue names."""
        return self.own("paused")

    @property
    def workers(self) -> str:
        """The zset of registered worker ids, scored by their last beat (ms)."""
        return self.own("workers")

    def worker(self, worker_id: str) -> str:
        """One worker's registry record (JSON), which expires when the worker stops beating."""
        return self.own("worker", worker_id)

    def ack_queue(self, ack_key: str) -> str:
        """The physical queue of an ack set key (`<prefix><worker uuid>.<queue>`)."""
        _, _, queue = ack_key.removeprefix(self.acks_prefix).partition(".")
        return queue


@dataclass(frozen=True, slots=True)
class RateLimitKeys:
    """The keys of one provider key's limiter state (see the module docstring)."""

    prefix: str

    @property
    def next_slot(self) -> str:
        return f"{self.prefix}:next"

    @property
    def calls(self) -> str:
        return f"{self.prefix}:calls"

    @property
    def window(self) -> str:
        return f"{self.prefix}:window"

    @property
    def leases(self) -> str:
        return f"{self.prefix}:leases"

    @property
    def cooldown(self) -> str:
        return f"{self.prefix}:cooldown"

    @property
    def snoozed(self) -> str:
        return f"{self.prefix}:snoozed"

    @property
    def slowdown(self) -> str:
        return f"{self.prefix}:slowdown"

    def all(self) -> list[str]:
        """The acquire script's keys, in its KEYS order."""
        return [self.cooldown, self.next_slot, self.calls, self.window, self.leases, self.snoozed, self.slowdown]
