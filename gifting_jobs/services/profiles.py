"""Taste profile completion: validate the questionnaire, derive facets, save, embed.

The seed's "Taste Profile Completion". The answers schema and the facets
live in `gifting_jobs.answers`; this module saves them and enqueues the
profile's embedding.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from gifting_jobs.answers import derive_facets, parse_answers
from gifting_jobs.dispatch import Job, JobOutcome
from gifting_jobs.exceptions import ProfileNotFound, ValidationError
from gifting_jobs.jobs import enqueue_taste_profile_embedding
from gifting_jobs.models import HeldJob, HeldJobReason, TasteProfile
from gifting_jobs.payloads import TriggeredBy

logger = logging.getLogger(__name__)

#: What the user reads once the profile is saved and its embedding is on its way.
MESSAGE_PREPARING = "Your taste profile is saved. We're preparing your recommendations."
#: What the user reads when the broker did not take the job: it is kept in Postgres and sent later.
MESSAGE_DELAYED = "Your taste profile is saved. Recommendations may be delayed a little."


@dataclass(frozen=True)
class ProfileCompletion:
    """What completing a profile gives the caller: the saved profile, its job, the user's message."""

    profile: TasteProfile
    job_id: str
    message: str
    #: True when the broker did not take the job: it waits in Postgres and is sent later.
    delayed: bool = False


def _positive_id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError.for_field(
            name,
            "Input should be a positive integer",
            "int_type",
            message=f"invalid {name}: expected a positive integer, got {value!r}",
        )
    return value


def complete_taste_profile(taste_profile_id: int, user_id: int, answers: Mapping[str, Any]) -> ProfileCompletion:
    """Validate and save a user's answers, derive facets, and enqueue the profile embedding.

    The save and the job commit together (transactional outbox), at the job
    type's default priority, the most urgent. If the broker is down when the
    transaction commits, the job stays in Postgres and is sent when the broker
    answers: the profile is still returned, with the "may be delayed" message.
    Raises `ValidationError` (nothing saved) for bad answers and
    `ProfileNotFound` when the profile does not exist or is not the user's.
    """
    _positive_id(taste_profile_id, "taste_profile_id")
    _positive_id(user_id, "user_id")
    parsed = parse_answers(answers)
    facets = derive_facets(parsed)
    with transaction.atomic():
        profile = TasteProfile.objects.select_for_update().filter(pk=taste_profile_id, user_id=user_id).first()
        if profile is None:
            raise ProfileNotFound(f"taste profile {taste_profile_id} was not found for user {user_id}")
        profile.answers = parsed.model_dump(mode="json", exclude_unset=True)
        profile.facets = facets
        profile.completed_at = timezone.now()
        profile.save(update_fields=["answers", "facets", "completed_at", "updated_at"])
        job = enqueue_taste_profile_embedding(
            profile.pk, user_id, recipient_id=profile.recipient_id, triggered_by=TriggeredBy.PROFILE_COMPLETED
        )
    delayed = _held_for_broker(job)
    extra = {"job_id": job.id, "job_type": job.job_type, "entity_id": str(profile.pk), "outcome": job.outcome.value}
    if delayed:
        logger.warning("taste profile %s saved; its embedding waits for the broker", profile.pk, extra=extra)
    else:
        logger.info("taste profile %s saved; embedding enqueued", profile.pk, extra=extra)
    return ProfileCompletion(
        profile=profile, job_id=job.id, message=MESSAGE_DELAYED if delayed else MESSAGE_PREPARING, delayed=delayed
    )


def _held_for_broker(job: Job) -> bool:
    """Whether the job is waiting in Postgres because the broker could not take it.

    Inside our own transaction the job went to the outbox; the commit then
    tried to send it and, with the broker down, left the row marked
    BROKER_DOWN. Under a caller's transaction the commit has not happened
    yet, so nothing can be known: the job is in the outbox either way.
    """
    if job.outcome is JobOutcome.HELD:
        return True
    if connection.in_atomic_block:
        return False
    return HeldJob.objects.filter(job_id=job.id, reason=HeldJobReason.BROKER_DOWN).exists()
