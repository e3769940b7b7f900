"""Test rows of dead letters, shared by the admin and ops tests."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone

from gifting_jobs.fingerprint import error_fingerprint
from gifting_jobs.models import FailedJob, FailedJobReason

_numbers = itertools.count(1)


def create_failed_job(**fields: Any) -> FailedJob:
    """An open dead letter of a product embedding whose payload the catalog accepts; `fields` override.

    Its fingerprint is computed as `record_failure` would, unless given.
    """
    n = next(_numbers)
    now = timezone.now()
    values: dict[str, Any] = {
        "job_id": f"product-embedding:{n}:none",
        "message_id": f"m-{n}",
        "job_type": "product_embedding",
        "queue": "catalog",
        "entity_id": str(n),
        "payload": {"product_id": n, "triggered_by": "product.created", "previous_text_hash": None},
        "options": {"priority": 5, "attempts": 5, "triggered_by": "product.created"},
        "reason": FailedJobReason.EXHAUSTED,
        "error_class": "gifting_jobs.exceptions.TransientJobError",
        "error_message": "provider timed out",
        "traceback": "Traceback (most recent call last):\n  ...\nTransientJobError: provider timed out",
        "attempts": 5,
        "first_failed_at": now - timedelta(minutes=5),
        "last_failed_at": now,
    }
    values.update(fields)
    values.setdefault(
        "fingerprint", error_fingerprint(values["job_type"], values["error_class"], values["error_message"])
    )
    return FailedJob.objects.create(**values)
