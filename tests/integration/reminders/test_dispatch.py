"""The reminder dispatch: real SMTP and HTTP sends, exactly once per schedule, errors classified."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from gifting_jobs.broker import get_broker
from gifting_jobs.catalog import get_spec
from gifting_jobs.dead_letters import retry_failed_job
from gifting_jobs.dispatch import build_message
from gifting_jobs.exceptions import PermanentJobError, TransientJobError
from gifting_jobs.jobs import EnqueueOptions, enqueue_reminder_dispatch
from gifting_jobs.models import Channel, FailedJob, FailedJobReason, NotificationSchedule, NotificationStatus, Occasion
from gifting_jobs.payloads import ReminderDispatchPayload
from gifting_jobs.services import process_overdue_reminders, schedule_reminders_for_occasion
from gifting_jobs.work.reminders import dispatch_reminder
from tests.conftest import wait_until
from tests.integration.reminders.conftest import PUSH_TOKEN, make_occasion, make_schedule, make_user


def payload_of(schedule: NotificationSchedule, **changes) -> ReminderDispatchPayload:
    return ReminderDispatchPayload.model_validate(
        {
            "schedule_id": schedule.pk,
            "user_id": schedule.user_id,
            "channel": schedule.channel,
            "payload": schedule.payload,
            "scheduled_for": schedule.scheduled_for,
            "occasion_id": schedule.occasion_id,
            "triggered_by": "scheduler",
            **changes,
        }
    )


def enqueue(schedule: NotificationSchedule, **opts):
    return enqueue_reminder_dispatch(
        schedule.pk,
        schedule.user_id,
        schedule.channel,
        schedule.payload,
        schedule.scheduled_for,
        occasion_id=schedule.occasion_id,
        triggered_by="scheduler",
        **opts,
    )


def settled(schedule: NotificationSchedule, *statuses: str) -> bool:
    return NotificationSchedule.objects.filter(pk=schedule.pk, status__in=statuses).exists()


# --- Channels over real transports --------------------------------------------------------------


def test_dispatch_reminder__email_goes_over_smtp_with_the_reminder(worker, smtp_sink):
    user = make_user(email="mom.fan@example.com")
    schedule = make_schedule(make_occasion(user, name="Mom's birthday"), channel=Channel.EMAIL, offset_days=3)

    enqueue(schedule)

    wait_until(lambda: settled(schedule, NotificationStatus.SENT), what="email reminder sent")
    [sunk] = smtp_sink.messages
    assert sunk.rcpt_tos == ("mom.fan@example.com",) and sunk.mail_from == "reminders@gifting.example"
    assert sunk.message["Subject"] == "Mom's birthday is in 3 days"
    assert sunk.message["To"] == "mom.fan@example.com"
    assert sunk.message["X-Gifting-Reminder"] == str(schedule.pk)
    assert sunk.message["Message-ID"] == f"<reminder-{schedule.pk}@gifting.example>"
    assert sunk.message.get_content().strip() == "Find the perfect gift before it's too late."
    schedule.refresh_from_db()
    assert schedule.sent_at and schedule.provider_message_id == f"<reminder-{schedule.pk}@gifting.example>"
    assert schedule.attempts == 1 and schedule.last_error == ""


def test_dispatch_reminder__email_uses_the_preference_address(worker, smtp_sink):
    user = make_user(email="account@example.com", channels=[Channel.EMAIL])
    user.gift_notification_preference.email = "reminders-here@example.com"
    user.gift_notification_preference.save()
    schedule = make_schedule(make_occasion(user), channel=Channel.EMAIL)

    enqueue(schedule)

    wait_until(lambda: settled(schedule, NotificationStatus.SENT), what="email reminder sent")
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("reminders-here@example.com",)]


def test_dispatch_reminder__push_goes_over_http_with_bearer_and_idempotency_key(worker, push_receiver):
    user = make_user()
    schedule = make_schedule(make_occasion(user, name="Dad's retirement"), offset_days=7)

    enqueue(schedule)

    wait_until(lambda: settled(schedule, NotificationStatus.SENT), what="push reminder sent")
    [request] = push_receiver.requests
    assert request.headers["authorization"] == f"Bearer {PUSH_TOKEN}"
    assert request.headers["idempotency-key"] == f"reminder-{schedule.pk}"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "to": {"user_id": str(user.pk)},
        "notification": {
            "title": "Dad's retirement is in 7 days",
            "body": "Find the perfect gift before it's too late.",
        },
        "data": {"occasion_id": str(schedule.occasion_id), "offset_days": "7"},
    }
    schedule.refresh_from_db()
    assert schedule.provider_message_id == "push-1" and schedule.sent_at is not None


# --- Exactly once ---------------------------------------------------------------------------------


def test_dispatch_reminder__a_duplicated_dispatch_sends_once(worker, push_receiver, settings):
    # A short sending lease: the losing dispatch looks again after it, and finds the reminder sent.
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "REMINDER_SENDING_LEASE_SECONDS": 1}
    schedule = make_schedule(make_occasion(make_user()))

    # Two jobs for one schedule (explicit ids bypass the dedupe), as a buggy caller could send.
    first = enqueue(schedule, job_id=f"dup-a-{schedule.pk}")
    second = enqueue(schedule, job_id=f"dup-b-{schedule.pk}")

    assert not first.deduplicated and not second.deduplicated
    wait_until(lambda: settled(schedule, NotificationStatus.SENT), what="reminder sent")
    lock = get_broker().lock_key
    wait_until(lambda: not get_broker().client.exists(lock(first.id), lock(second.id)), what="both jobs done")
    assert len(push_receiver.requests) == 1
    assert not FailedJob.objects.exists()


def test_dispatch_reminder__a_redelivered_message_sends_once(worker, push_receiver, clean_broker):
    schedule = make_schedule(make_occasion(make_user()))
    spec = get_spec("reminder_dispatch")
    message = build_message(spec, payload_of(schedule), EnqueueOptions())

    # The broker never deduplicates: the same message enqueued twice is delivered twice.
    clean_broker.enqueue(message)
    clean_broker.enqueue(message)

    wait_until(lambda: settled(schedule, NotificationStatus.SENT), what="reminder sent")
    wait_until(lambda: clean_broker.client.hlen(f"{clean_broker.namespace}:reminders.urgent.msgs") == 0, what="drained")
    assert len(push_receiver.requests) == 1


def test_dispatch_reminder__concurrent_dispatches_of_one_schedule_send_once(push_receiver, transactional_db):
    schedule = make_schedule(make_occasion(make_user()))
    payload = payload_of(schedule)
    push_receiver.block()  # The winner holds its send while the others arrive.
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def dispatch() -> None:
        try:
            start.wait()
            dispatch_reminder(payload)
            outcomes.append("returned")
        except TransientJobError:
            outcomes.append("wait")
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch) for _ in range(6)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(outcomes) == 5, what="the five losers to back off")
    push_receiver.release()
    for thread in threads:
        thread.join(timeout=30)

    assert len(push_receiver.requests) == 1
    assert sorted(outcomes) == ["returned"] + ["wait"] * 5  # Losers retry later, after the lease.
    assert settled(schedule, NotificationStatus.SENT)
    # A dispatch arriving after the send finds it SENT and does nothing.
    dispatch_reminder(payload)
    assert len(push_receiver.requests) == 1


# --- Provider errors ------------------------------------------------------------------------------


def test_dispatch_reminder__a_transient_push_error_is_retried_with_the_same_key(worker, push_receiver):
    push_receiver.script(503)
    push_receiver.script(429, headers={"Retry-After": "1"})
    schedule = make_schedule(make_occasion(make_user()))

    enqueue(schedule)

    wait_until(lambda: settled(schedule, NotificationStatus.SENT), what="reminder sent after retries")
    keys = [r.idempotency_key for r in push_receiver.requests]
    assert keys == [f"reminder-{schedule.pk}"] * 3
    # The provider's Retry-After (1 s) was honoured before the third attempt.
    assert push_receiver.requests[2].at - push_receiver.requests[1].at >= 1.0
    schedule.refresh_from_db()
    # The 503 cost an attempt; the 429 only snoozed the job (rate limits never burn attempts).
    assert schedule.attempts == 2 and len(push_receiver.delivered) == 1
    assert not FailedJob.objects.exists()


def test_dispatch_reminder__a_permanent_push_error_fails_and_dead_letters(worker, push_receiver):
    push_receiver.script(400, {"error": "unknown device"})
    schedule = make_schedule(make_occasion(make_user()))

    job = enqueue(schedule)

    wait_until(lambda: FailedJob.objects.filter(job_id=job.id).exists(), what="dead letter")
    failed = FailedJob.objects.get(job_id=job.id)
    assert failed.reason == FailedJobReason.PERMANENT and failed.entity_id == str(schedule.pk)
    assert "400" in failed.error_message and "unknown device" in failed.error_message
    schedule.refresh_from_db()
    assert schedule.status == NotificationStatus.FAILED and "400" in schedule.last_error
    assert len(push_receiver.requests) == 1


def test_dispatch_reminder__transient_errors_exhausting_the_attempts_fail_and_dead_letter(worker, push_receiver):
    push_receiver.always(503)
    schedule = make_schedule(make_occasion(make_user()))

    job = enqueue(schedule)

    wait_until(lambda: FailedJob.objects.filter(job_id=job.id).exists(), timeout=60, what="dead letter")
    attempts = get_spec("reminder_dispatch").retry.attempts
    assert len(push_receiver.requests) == attempts
    schedule.refresh_from_db()
    assert schedule.status == NotificationStatus.FAILED and schedule.attempts == attempts
    assert f"gave up after {attempts} attempts" in FailedJob.objects.get(job_id=job.id).error_message


def test_dispatch_reminder__a_refused_recipient_550_is_permanent(worker, smtp_sink):
    user = make_user(email="nobody@example.com")
    smtp_sink.refuse("nobody@example.com", "550 5.1.1 <nobody@example.com>: no such user")
    schedule = make_schedule(make_occasion(user), channel=Channel.EMAIL)

    job = enqueue(schedule)

    wait_until(lambda: FailedJob.objects.filter(job_id=job.id).exists(), what="dead letter")
    assert FailedJob.objects.get(job_id=job.id).reason == FailedJobReason.PERMANENT
    schedule.refresh_from_db()
    assert schedule.status == NotificationStatus.FAILED and "recipient refused" in schedule.last_error
    assert smtp_sink.messages == []


def test_dispatch_reminder__a_deferred_recipient_451_is_retried_then_sent(worker, smtp_sink, settings):
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "RETRY_BACKOFF_SCALE": 0.01}
    user = make_user(email="busy@example.com")
    smtp_sink.refuse("busy@example.com", "451 4.3.0 try again later", times=1)
    schedule = make_schedule(make_occasion(user), channel=Channel.EMAIL)

    enqueue(schedule)

    wait_until(lambda: settled(schedule, NotificationStatus.SENT), what="email sent after a deferral")
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("busy@example.com",)]
    schedule.refresh_from_db()
    assert schedule.attempts == 2


def test_dispatch_reminder__an_unreachable_smtp_server_is_transient_and_keeps_the_row_queued(
    settings, transactional_db
):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9},
        }
    }
    schedule = make_schedule(make_occasion(make_user()), channel=Channel.EMAIL)

    with pytest.raises(TransientJobError, match="SMTP server unreachable"):
        dispatch_reminder(payload_of(schedule))

    schedule.refresh_from_db()
    assert schedule.status == NotificationStatus.QUEUED and schedule.attempts == 1
    assert "unreachable" in schedule.last_error and schedule.claimed_at is not None


def test_dispatch_reminder__an_unreachable_push_gateway_is_transient(settings, transactional_db):
    settings.GIFTING_JOBS = {
        **settings.GIFTING_JOBS,
        "PUSH_BACKEND": "gifting_jobs.providers.push.http.HttpPushBackend",
        "PUSH_URL": "http://127.0.0.1:9/push",
    }
    schedule = make_schedule(make_occasion(make_user()))

    with pytest.raises(TransientJobError, match="push gateway unreachable"):
        dispatch_reminder(payload_of(schedule))

    assert settled(schedule, NotificationStatus.QUEUED)


def test_dispatch_reminder__no_email_address_is_permanent(smtp_sink, transactional_db):
    user = make_user()
    type(user).objects.filter(pk=user.pk).update(email="")
    schedule = make_schedule(make_occasion(user), channel=Channel.EMAIL)

    with pytest.raises(PermanentJobError, match="has no email address"):
        dispatch_reminder(payload_of(schedule))

    assert settled(schedule, NotificationStatus.FAILED) and smtp_sink.messages == []


# --- Never sent -----------------------------------------------------------------------------------


def test_dispatch_reminder__a_cancelled_schedule_is_never_sent(worker, push_receiver):
    # Given reminders already claimed by a sweep (their jobs queued) when the occasion moves
    occasion = make_occasion(make_user(), on=timezone.now().date() + timedelta(days=30))
    schedule_reminders_for_occasion(occasion)
    NotificationSchedule.objects.update(scheduled_for=timezone.now() - timedelta(seconds=1))
    worker.pause()
    assert process_overdue_reminders() == 3
    Occasion.objects.filter(pk=occasion.pk).update(date=timezone.now().date() + timedelta(days=60))
    moved = schedule_reminders_for_occasion(occasion)
    assert len(moved.cancelled) == 3

    # When the queued dispatches run
    worker.resume()

    wait_until(lambda: get_broker().client.hlen(f"{get_broker().namespace}:reminders.urgent.msgs") == 0, what="drained")
    wait_until(
        lambda: not get_broker().client.keys(f"{get_broker().namespace}:gj:lock:reminder-dispatch:*"), what="done"
    )
    assert push_receiver.requests == []
    assert NotificationSchedule.objects.filter(status=NotificationStatus.CANCELLED).count() == 3
    assert not FailedJob.objects.exists()


def test_dispatch_reminder__a_deleted_occasion_is_never_sent(worker, push_receiver):
    occasion = make_occasion(make_user())
    schedules = [make_schedule(occasion, offset_days=d) for d in (1, 2)]
    worker.pause()
    assert process_overdue_reminders() == 2

    occasion.delete()
    worker.resume()

    assert not NotificationSchedule.objects.filter(pk__in=[s.pk for s in schedules]).exists()
    wait_until(
        lambda: not get_broker().client.keys(f"{get_broker().namespace}:gj:lock:reminder-dispatch:*"), what="done"
    )
    assert push_receiver.requests == [] and not FailedJob.objects.exists()


# --- The crash case, in process -------------------------------------------------------------------


def test_dispatch_reminder__a_sending_row_past_its_lease_is_failed_not_resent(push_receiver, transactional_db):
    # Given a row a dead worker left SENDING (the provider may or may not have it)
    lease = timedelta(seconds=300)
    schedule = make_schedule(
        make_occasion(make_user()),
        status=NotificationStatus.SENDING,
        sending_started_at=timezone.now() - lease - timedelta(seconds=1),
        attempts=1,
    )

    with pytest.raises(PermanentJobError, match="delivery unknown"):
        dispatch_reminder(payload_of(schedule))

    schedule.refresh_from_db()
    assert schedule.status == NotificationStatus.FAILED and "delivery unknown" in schedule.last_error
    assert push_receiver.requests == []


def test_dispatch_reminder__a_sending_row_within_its_lease_is_left_to_its_sender(push_receiver, transactional_db):
    schedule = make_schedule(
        make_occasion(make_user()), status=NotificationStatus.SENDING, sending_started_at=timezone.now(), attempts=1
    )

    with pytest.raises(TransientJobError) as raised:
        dispatch_reminder(payload_of(schedule))

    assert 290 < raised.value.retry_after <= 301
    assert settled(schedule, NotificationStatus.SENDING) and push_receiver.requests == []


def test_retry_of_a_reminder_dead_letter__sends_it_on_purpose(worker, push_receiver):
    push_receiver.script(400)
    schedule = make_schedule(make_occasion(make_user()))
    job = enqueue(schedule)
    wait_until(lambda: FailedJob.objects.filter(job_id=job.id).exists(), what="dead letter")

    retry_failed_job(FailedJob.objects.get(job_id=job.id))

    wait_until(lambda: settled(schedule, NotificationStatus.SENT), what="reminder resent by the retry")
    assert len(push_receiver.requests) == 2
    schedule.refresh_from_db()
    assert schedule.attempts == 1 and schedule.last_error == ""
