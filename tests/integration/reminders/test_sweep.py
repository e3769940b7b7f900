"""The due-reminder sweep: claims with SKIP LOCKED, enqueues each once, concurrent sweeps never double-send."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from dramatiq.message import Message

from gifting_jobs.exceptions import ValidationError
from gifting_jobs.models import Channel, NotificationSchedule, NotificationStatus
from gifting_jobs.services import process_overdue_reminders
from tests.conftest import wait_until
from tests.integration.reminders.conftest import make_occasion, make_schedule, make_user

#: The physical queue of reminder dispatches (priority 3: the urgent band).
REMINDER_QUEUE = "reminders.urgent"


def queued_messages(broker, queue: str = REMINDER_QUEUE) -> list[Message]:
    raw = broker.client.hvals(f"{broker.namespace}:{queue}.msgs")
    return [Message.decode(data) for data in raw]


def test_process_overdue_reminders__claims_due_rows_and_enqueues_one_dispatch_each(clean_broker, transactional_db):
    occasion = make_occasion(make_user())
    due = [make_schedule(occasion, offset_days=d) for d in (1, 2, 3)]
    later = make_schedule(occasion, offset_days=4, scheduled_for=timezone.now() + timedelta(hours=5))
    cancelled = make_schedule(occasion, offset_days=5, status=NotificationStatus.CANCELLED)

    assert process_overdue_reminders(batch_size=2) == 3

    messages = queued_messages(clean_broker)
    assert sorted(m.args[0]["schedule_id"] for m in messages) == sorted(s.pk for s in due)
    assert {m.options["job_id"] for m in messages} == {f"reminder-dispatch:{s.pk}" for s in due}
    first = next(m.args[0] for m in messages if m.args[0]["schedule_id"] == due[0].pk)
    assert first["channel"] == "PUSH" and first["triggered_by"] == "scheduler" and first["occasion_id"] == occasion.pk
    assert first["payload"]["title"] == "Mom's birthday is in 1 days"
    assert all(s.claimed_at for s in NotificationSchedule.objects.filter(pk__in=[s.pk for s in due]))
    assert all(
        s.status == NotificationStatus.QUEUED for s in NotificationSchedule.objects.filter(pk__in=[s.pk for s in due])
    )
    assert NotificationSchedule.objects.get(pk=later.pk).claimed_at is None
    assert NotificationSchedule.objects.get(pk=cancelled.pk).claimed_at is None


def test_process_overdue_reminders__a_second_sweep_claims_nothing_again(clean_broker, transactional_db):
    occasion = make_occasion(make_user())
    for offset in (1, 2):
        make_schedule(occasion, offset_days=offset)

    assert process_overdue_reminders() == 2
    assert process_overdue_reminders() == 0
    assert len(queued_messages(clean_broker)) == 2


def test_process_overdue_reminders__near_term_rows_go_with_the_broker_delay(clean_broker, transactional_db):
    soon = make_schedule(make_occasion(make_user()), scheduled_for=timezone.now() + timedelta(seconds=40))

    assert process_overdue_reminders() == 0
    assert process_overdue_reminders(lookahead=timedelta(seconds=60)) == 1

    delayed = queued_messages(clean_broker, REMINDER_QUEUE + ".DQ")
    assert [m.args[0]["schedule_id"] for m in delayed] == [soon.pk]
    eta_ms = delayed[0].options["eta"]
    assert abs(eta_ms / 1000 - soon.scheduled_for.timestamp()) < 2


def test_process_overdue_reminders__a_lookahead_beyond_the_delay_horizon_is_refused(transactional_db):
    with pytest.raises(ValidationError, match="lookahead"):
        process_overdue_reminders(lookahead=timedelta(hours=2))


def test_process_overdue_reminders__an_abandoned_claim_is_handed_over_again(clean_broker, transactional_db):
    # Given a row claimed long ago by a sweep that died before enqueueing it
    stale = make_schedule(make_occasion(make_user()), claimed_at=timezone.now() - timedelta(hours=1))
    fresh = make_schedule(make_occasion(make_user()), claimed_at=timezone.now())

    assert process_overdue_reminders() == 1

    assert [m.args[0]["schedule_id"] for m in queued_messages(clean_broker)] == [stale.pk]
    assert NotificationSchedule.objects.get(pk=stale.pk).claimed_at > timezone.now() - timedelta(minutes=1)
    assert NotificationSchedule.objects.get(pk=fresh.pk).status == NotificationStatus.QUEUED


def test_process_overdue_reminders__a_row_with_a_bad_payload_is_failed_and_the_others_go(
    clean_broker, transactional_db
):
    occasion = make_occasion(make_user())
    good = make_schedule(occasion, offset_days=1)
    bad = make_schedule(occasion, offset_days=2, payload={"title": "", "body": "x"})

    assert process_overdue_reminders() == 1

    assert [m.args[0]["schedule_id"] for m in queued_messages(clean_broker)] == [good.pk]
    bad.refresh_from_db()
    assert bad.status == NotificationStatus.FAILED and "payload.title" in bad.last_error


@pytest.mark.parametrize("size", [0, -1, 10_001, "10", True, None])
def test_process_overdue_reminders__batch_size_is_validated(size, transactional_db):
    with pytest.raises(ValidationError, match=r"batch_size must be an int in 1..10000"):
        process_overdue_reminders(batch_size=size)


def test_process_overdue_reminders_command__sweeps_and_reports(clean_broker, transactional_db, capsys):
    make_schedule(make_occasion(make_user()))

    call_command("process_overdue_reminders", "--batch-size", "50")

    assert "1 due reminders handed to the broker" in capsys.readouterr().out
    assert len(queued_messages(clean_broker)) == 1


@pytest.mark.parametrize("value", ["0", "abc", "20000", "-5"])
def test_process_overdue_reminders_command__a_bad_batch_size_is_a_clear_error(value, transactional_db):
    with pytest.raises(CommandError, match=r"--batch-size must be an integer in 1..10000"):
        call_command("process_overdue_reminders", "--batch-size", value)


def test_two_concurrent_sweeps_over_1000_due__exactly_1000_sends(worker, smtp_sink, push_receiver, caplog):
    caplog.set_level(logging.WARNING)  # 1,000 jobs' INFO lines would cost more than the jobs.
    # Given 1,000 due reminders, half by email and half by push
    users = [make_user(email=f"sweep{n}@example.com") for n in range(50)]
    rows = []
    for n, user in enumerate(users):
        for occasion in (make_occasion(user, name=f"Birthday {n}"), make_occasion(user, name=f"Anniversary {n}")):
            for offset in range(1, 6):
                for channel in (Channel.EMAIL, Channel.PUSH):
                    rows.append(
                        NotificationSchedule(
                            user=user,
                            occasion=occasion,
                            channel=channel,
                            offset_days=offset,
                            occasion_date=occasion.date,
                            scheduled_for=timezone.now() - timedelta(seconds=5),
                            payload={"title": f"{occasion.name} is in {offset} days", "body": "Find the perfect gift"},
                        )
                    )
    NotificationSchedule.objects.bulk_create(rows)
    assert NotificationSchedule.objects.count() == 1000

    # When two sweeps run at the same time
    start = threading.Barrier(2)
    claimed: list[int] = []

    def sweep() -> None:
        try:
            start.wait()
            claimed.append(process_overdue_reminders(batch_size=50))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # Then they split the rows, and every reminder is sent exactly once
    assert sum(claimed) == 1000 and len(claimed) == 2
    wait_until(
        lambda: NotificationSchedule.objects.filter(status=NotificationStatus.SENT).count() == 1000,
        timeout=120,
        what="1,000 reminders sent",
    )
    emails = Counter(m.message["X-Gifting-Reminder"] for m in smtp_sink.messages)
    pushes = Counter(r.idempotency_key for r in push_receiver.requests)
    email_ids = {
        str(pk) for pk in NotificationSchedule.objects.filter(channel=Channel.EMAIL).values_list("pk", flat=True)
    }
    push_keys = {
        f"reminder-{pk}"
        for pk in NotificationSchedule.objects.filter(channel=Channel.PUSH).values_list("pk", flat=True)
    }
    assert len(smtp_sink.messages) == 500 and set(emails) == email_ids and set(emails.values()) == {1}
    assert len(push_receiver.requests) == 500 and set(pushes) == push_keys and set(pushes.values()) == {1}
    assert not NotificationSchedule.objects.exclude(status=NotificationStatus.SENT).exists()
