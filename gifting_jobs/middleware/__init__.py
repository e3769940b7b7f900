"""Dramatiq middleware of the job spine, one concern per module.

List them in `DRAMATIQ_BROKER["MIDDLEWARE"]` in this order (after hooks run in
reverse): Idempotency, DeadLetters, JobObservability, JobRetries, Relay.
"""

from gifting_jobs.middleware.dead_letters import DeadLetters
from gifting_jobs.middleware.idempotency import Idempotency
from gifting_jobs.middleware.observability import JobObservability
from gifting_jobs.middleware.relay import Relay
from gifting_jobs.middleware.retries import JobRetries

__all__ = ["DeadLetters", "Idempotency", "JobObservability", "JobRetries", "Relay"]
