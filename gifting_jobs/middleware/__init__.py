"""Dramatiq middleware of the job spine, one concern per module.

`gifting_jobs.settings.dramatiq_broker()` lists them, after Dramatiq's and
django_dramatiq's, in the order they need (after hooks run in reverse):
Idempotency, DeadLetters, JobObservability, JobRetries, Relay.
"""

from gifting_jobs.middleware.dead_letters import DeadLetters
from gifting_jobs.middleware.idempotency import Idempotency
from gifting_jobs.middleware.observability import JobObservability
from gifting_jobs.middleware.relay import Relay
from gifting_jobs.middleware.retries import JobRetries

__all__ = ["DeadLetters", "Idempotency", "JobObservability", "JobRetries", "Relay"]
