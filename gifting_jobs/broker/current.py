"""The configured broker, checked to be gifting_jobs' own."""

from __future__ import annotations

import dramatiq
from dramatiq.broker import Broker

from gifting_jobs.broker.redis_broker import RedisBroker
from gifting_jobs.exceptions import ConfigurationError


def get_broker() -> RedisBroker:
    """Dramatiq's global broker; a `ConfigurationError` if it is not `gifting_jobs.broker.RedisBroker`."""
    return as_redis_broker(dramatiq.get_broker())


def as_redis_broker(broker: Broker) -> RedisBroker:
    """`broker` (one a middleware hook was handed), checked to be gifting_jobs' RedisBroker."""
    if not isinstance(broker, RedisBroker):
        raise ConfigurationError(
            f"gifting_jobs needs DRAMATIQ_BROKER['BROKER'] = 'gifting_jobs.broker.RedisBroker', "
            f"got {type(broker).__module__}.{type(broker).__name__}: put 'django_dramatiq' first in INSTALLED_APPS "
            f"and set DRAMATIQ_BROKER = gifting_jobs.settings.dramatiq_broker(REDIS_URL); `manage.py check` says which is missing"
        )
    return broker
