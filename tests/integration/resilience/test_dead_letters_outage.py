"""Issue 14.3: a dead letter that Postgres cannot take is kept in Redis and written once it answers."""

from __future__ import annotations

import psycopg
from django.db import connection
from dramatiq.message import Message

from gifting_jobs.dead_letters import flush_kept_dead_letters, record_failure_or_keep
from gifting_jobs.dispatch import enqueue
from gifting_jobs.models import FailedJob, FailedJobReason
from tests.conftest import database_url


def break_connection() -> None:
    """Terminate this thread's Postgres session from another one: its next query fails for real."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(database_url(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_dead_letter__database_gone__kept_in_redis_then_written_by_the_flush(clean_broker, transactional_db):
    job = enqueue("test_record", {"key": "outage", "triggered_by": "manual"}, {})
    (data,) = clean_broker.do_fetch(job.queue, 1)
    message = Message.decode(data).copy(options={"retries": 3})

    # When Postgres drops the session while the dead letter is written
    break_connection()
    recorded = record_failure_or_keep(
        clean_broker, message, reason=FailedJobReason.EXHAUSTED, error_class="TransientJobError", error_message="down"
    )

    # Then it waits in Redis, and the next flush writes it to Postgres and forgets it
    assert recorded is None
    assert [job_id for job_id, _ in clean_broker.pending_dead_letters(limit=10)] == [job.id]
    assert not FailedJob.objects.exists()
    assert flush_kept_dead_letters(clean_broker, limit=10) == 1
    failed = FailedJob.objects.get(job_id=job.id)
    assert (failed.reason, failed.error_message, failed.attempts) == (FailedJobReason.EXHAUSTED, "down", 3)
    assert failed.message_id == job.message_id and failed.queue == "testing"
    assert clean_broker.pending_dead_letters(limit=10) == []
    assert flush_kept_dead_letters(clean_broker, limit=10) == 0


def test_flush__keeps_a_newer_dead_letter_of_the_same_job(clean_broker, transactional_db):
    job = enqueue("test_record", {"key": "newer", "triggered_by": "manual"}, {})
    message = Message.decode(clean_broker.do_fetch(job.queue, 1)[0])
    clean_broker.keep_dead_letter(
        job.id,
        {
            "message": message.asdict(),
            "reason": "exhausted",
            "error_class": "E",
            "error_message": "first",
            "traceback": "",
        },
    )
    ((_, first),) = clean_broker.pending_dead_letters(limit=10)
    clean_broker.keep_dead_letter(
        job.id,
        {
            "message": message.asdict(),
            "reason": "exhausted",
            "error_class": "E",
            "error_message": "second",
            "traceback": "",
        },
    )
    assert not clean_broker.drop_dead_letter(job.id, first)
    assert len(clean_broker.pending_dead_letters(limit=10)) == 1
