"""Everything that knows Redis and Dramatiq's internals: the broker, its scripts, keys and queries.

Nothing outside this package spells a Redis key or touches `broker.client`
(a test keeps it so): the enqueue engine, status, metrics and scheduling go
through the broker's methods and the queries in `inspection`.
"""

from gifting_jobs.broker.current import get_broker
from gifting_jobs.broker.redis_broker import RedisBroker, SendMode

__all__ = ["RedisBroker", "SendMode", "get_broker"]
