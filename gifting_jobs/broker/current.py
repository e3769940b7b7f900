"""The configured broker, checked to be gifting_jobs' own."""

from __future__ import annotations

import dramatiq

from gifting_jobs.broker.redis_broker import RedisBroker
from gifting_jobs.exceptions import ConfigurationError


def get_broker() -> RedisBroker:
    """Dramatiq's global broker; a `ConfigurationError` if it is not `gifting_jobs.broker.RedisBroker`."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, RedisBroker):
        raise ConfigurationError(
            f"gifting_jobs needs DRAMATIQ_BROKER['BROKER'] = 'gifting_jobs.broker.RedisBroker', "
            f"got {type(broker).__module__}.{type(broker).__name__}"
        )
    return broker
