"""`schedule_reminders_for_occasion`: one row per offset and channel, idempotent, rescheduled on a date change."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from gifting_jobs.exceptions import ValidationError
from gifting_jobs.models import Channel, NotificationSchedule, NotificationStatus, Occasion
from gifting_jobs.services import schedule_reminders_for_occasion
from tests.integration.reminders.conftest import make_occasion, make_schedule, make_user

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def in_days(days: int):
    return timezone.now().date() + timedelta(days=days)


def test_schedule_reminders_for_occasion__one_per_offset_at_the_local_send_time():
    user = make_user(channels=[Channel.PUSH], tz="Europe/Paris")
    occasion = make_occasion(user, on=in_days(30), recipient="Mom")

    result = schedule_reminders_for_occasion(occasion)

    assert len(result.created) == 3 and not result.unchanged and not result.cancelled and not result.skipped_past
    rows = {s.offset_days: s for s in NotificationSchedule.objects.filter(occasion=occasion)}
    assert set(rows) == {7, 3, 1}
    for offset, row in rows.items():
        local = row.scheduled_for.astimezone(PARIS)
        assert (local.date(), local.time()) == (occasion.date - timedelta(days=offset), time(9, 0))
        assert row.status == NotificationStatus.QUEUED and row.channel == Channel.PUSH
        assert row.occasion_date == occasion.date and row.user_id == user.pk and row.claimed_at is None
    assert rows[3].payload["title"] == "Mom's birthday is in 3 days"
    assert rows[1].payload["title"] == "Mom's birthday is tomorrow"
    assert rows[7].payload["body"].startswith("Find the perfect gift for Mom before ")
    assert rows[7].payload["data"] == {
        "occasion_id": str(occasion.pk),
        "occasion_date": occasion.date.isoformat(),
        "offset_days": "7",
    }


def test_schedule_reminders_for_occasion__channels_come_from_the_preferences():
    both = make_user(channels=[Channel.PUSH, Channel.EMAIL])
    default = make_user()  # No preference: GIFTING_JOBS["REMINDER_DEFAULT_CHANNELS"] (PUSH).
    off = make_user(channels=[])

    schedule_reminders_for_occasion(make_occasion(both), offsets_days=(7, 3))
    schedule_reminders_for_occasion(make_occasion(default), offsets_days=(7, 3))
    result = schedule_reminders_for_occasion(make_occasion(off), offsets_days=(7, 3))

    assert sorted(NotificationSchedule.objects.filter(user=both).values_list("offset_days", "channel")) == [
        (3, "EMAIL"),
        (3, "PUSH"),
        (7, "EMAIL"),
        (7, "PUSH"),
    ]
    assert sorted(NotificationSchedule.objects.filter(user=default).values_list("channel", flat=True)) == [
        "PUSH",
        "PUSH",
    ]
    assert result.created == () and not NotificationSchedule.objects.filter(user=off).exists()


def test_schedule_reminders_for_occasion__past_offsets_are_skipped_and_reported():
    occasion = make_occasion(make_user(), on=in_days(5))

    result = schedule_reminders_for_occasion(occasion, offsets_days=(7, 3, 1))

    assert result.skipped_past == (7,)
    assert sorted(s.offset_days for s in result.created) == [1, 3]
    assert sorted(NotificationSchedule.objects.values_list("offset_days", flat=True)) == [1, 3]


def test_schedule_reminders_for_occasion__a_past_occasion_creates_nothing():
    result = schedule_reminders_for_occasion(make_occasion(make_user(), on=in_days(-2)))

    assert result.skipped_past == (1, 3, 7) and result.created == ()
    assert not NotificationSchedule.objects.exists()


def test_schedule_reminders_for_occasion__calling_again_changes_nothing():
    occasion = make_occasion(make_user(channels=[Channel.EMAIL, Channel.PUSH]))
    first = schedule_reminders_for_occasion(occasion)
    before = list(NotificationSchedule.objects.order_by("pk").values())

    again = schedule_reminders_for_occasion(occasion)

    assert len(first.created) == 6
    assert again.created == () and again.cancelled == () and not again.changed
    assert sorted(s.pk for s in again.unchanged) == sorted(s.pk for s in first.created)
    assert list(NotificationSchedule.objects.order_by("pk").values()) == before


def test_schedule_reminders_for_occasion__a_new_date_cancels_the_old_and_creates_the_new():
    occasion = make_occasion(make_user(), on=in_days(30))
    old = schedule_reminders_for_occasion(occasion)
    # The 7-day reminder of the old date was already sent: it stays as history.
    sent = NotificationSchedule.objects.get(occasion=occasion, offset_days=7)
    NotificationSchedule.objects.filter(pk=sent.pk).update(status=NotificationStatus.SENT, sent_at=timezone.now())

    Occasion.objects.filter(pk=occasion.pk).update(date=in_days(40))
    moved = schedule_reminders_for_occasion(occasion)

    assert sorted(s.pk for s in moved.cancelled) == sorted(s.pk for s in old.created if s.pk != sent.pk)
    assert sorted(s.offset_days for s in moved.created) == [1, 3, 7]
    assert all(s.occasion_date == in_days(40) for s in moved.created)
    assert NotificationSchedule.objects.get(pk=sent.pk).status == NotificationStatus.SENT
    statuses = NotificationSchedule.objects.filter(occasion=occasion).values_list("occasion_date", "status")
    assert sorted(statuses) == sorted(
        [(in_days(30), "SENT"), (in_days(30), "CANCELLED"), (in_days(30), "CANCELLED")] + [(in_days(40), "QUEUED")] * 3
    )
    # And once more: nothing changes twice.
    assert not schedule_reminders_for_occasion(occasion).changed


def test_schedule_reminders_for_occasion__dropped_offsets_are_cancelled():
    occasion = make_occasion(make_user())
    schedule_reminders_for_occasion(occasion, offsets_days=(7, 3, 1))

    result = schedule_reminders_for_occasion(occasion, offsets_days=(7, 1))

    assert [s.offset_days for s in result.cancelled] == [3] and result.created == ()
    assert sorted(
        NotificationSchedule.objects.filter(status=NotificationStatus.QUEUED).values_list("offset_days", flat=True)
    ) == [1, 7]


def test_schedule_reminders_for_occasion__already_sent_offsets_are_unchanged_not_skipped():
    occasion = make_occasion(make_user(), on=in_days(2))
    done = make_schedule(
        occasion,
        offset_days=3,
        scheduled_for=timezone.now() - timedelta(days=1),
        status=NotificationStatus.SENT,
        sent_at=timezone.now(),
    )

    result = schedule_reminders_for_occasion(occasion, offsets_days=(3, 1))

    assert [s.pk for s in result.unchanged] == [done.pk]
    assert result.skipped_past == () and [s.offset_days for s in result.created] == [1]


@pytest.mark.parametrize(
    ("offsets", "fragment"),
    [
        ((7, 7, 1), "duplicate offsets [7]"),
        ((0,), "0 is not in 1..366"),
        ((-3,), "-3 is not in 1..366"),
        ((400,), "400 is not in 1..366"),
        ((7, "3"), "'3' is not an int"),
        ((True,), "True is not an int"),
        ((), "at least one offset"),
        ("731", "must be a sequence of days"),
        (7, "must be a sequence of days"),
    ],
)
def test_schedule_reminders_for_occasion__bad_offsets_are_a_clear_error_and_change_nothing(offsets, fragment):
    occasion = make_occasion(make_user())

    with pytest.raises(ValidationError) as raised:
        schedule_reminders_for_occasion(occasion, offsets_days=offsets)

    assert fragment in str(raised.value)
    assert raised.value.errors and isinstance(raised.value, ValueError)
    assert not NotificationSchedule.objects.exists()


def test_schedule_reminders_for_occasion__an_unsaved_occasion_is_an_error():
    user = make_user()
    with pytest.raises(ValidationError, match="must be saved"):
        schedule_reminders_for_occasion(Occasion(user=user, name="x", date=in_days(9)))


def test_schedule_reminders_for_occasion__a_dst_change_keeps_the_local_send_time():
    user = make_user(tz="Europe/Paris", channels=[Channel.PUSH])
    # Pick a date a week after a DST switch so the 7- and 1-day reminders straddle it.
    year = timezone.now().year + 1
    switch = max(d for d in (datetime(year, 3, day, tzinfo=PARIS) for day in range(25, 32)) if d.weekday() == 6)
    occasion = make_occasion(user, on=(switch + timedelta(days=3)).date())

    schedule_reminders_for_occasion(occasion)

    for row in NotificationSchedule.objects.filter(occasion=occasion):
        assert row.scheduled_for.astimezone(PARIS).time() == time(9, 0)
    offsets = {r.offset_days: r.scheduled_for.utcoffset() for r in NotificationSchedule.objects.all()}
    assert {r.scheduled_for.astimezone(PARIS).utcoffset() for r in NotificationSchedule.objects.all()} == {
        timedelta(hours=1),
        timedelta(hours=2),
    }, offsets
