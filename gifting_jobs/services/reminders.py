"""Reminder services: scheduling the reminders of an occasion, and the sweep that sends due ones.

Reminders wait in Postgres as QUEUED `NotificationSchedule` rows, never in a
worker's memory. `process_overdue_reminders` (run by the scheduler every
`REMINDER_SWEEP_SECONDS`) claims due rows with `FOR UPDATE SKIP LOCKED` and
enqueues one `reminder_dispatch` job per row; the job sends it at most once.
"""

from __future__ import annotations

import json
import logging
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from gifting_jobs.catalog import JobType
from gifting_jobs.conf import get_settings
from gifting_jobs.dispatch import enqueue_many
from gifting_jobs.exceptions import ValidationError, field_error
from gifting_jobs.limits import ERROR_EXCERPT_CHARS
from gifting_jobs.models import NotificationSchedule, NotificationStatus, Occasion
from gifting_jobs.models.reminders import NotificationPreference
from gifting_jobs.payloads import TriggeredBy

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

#: The seed's reminders: a week, three days and one day before the occasion.
DEFAULT_OFFSETS_DAYS = (7, 3, 1)
#: Furthest ahead a reminder may be (a year and a day covers yearly occasions).
MAX_OFFSET_DAYS = 366
#: Largest batch the sweep may claim in one transaction.
MAX_BATCH_SIZE = 10_000


@dataclass(frozen=True)
class ReminderScheduling:
    """What `schedule_reminders_for_occasion` did."""

    #: Schedules created by this call.
    created: tuple[NotificationSchedule, ...]
    #: Offsets (days) whose send time had already passed: nothing was created for them.
    skipped_past: tuple[int, ...]
    #: Schedules that already matched the occasion (queued, or already sent/sending/failed).
    unchanged: tuple[NotificationSchedule, ...]
    #: Queued schedules cancelled because the date, the offsets or the channels changed.
    cancelled: tuple[NotificationSchedule, ...]

    @property
    def changed(self) -> bool:
        return bool(self.created or self.cancelled)


def validate_offsets(offsets_days: Any) -> tuple[int, ...]:
    """The offsets as a tuple of distinct ints in 1..MAX_OFFSET_DAYS, or a `ValidationError`."""
    if isinstance(offsets_days, (str, bytes)) or not isinstance(offsets_days, Iterable):
        raise ValidationError.for_field(
            "offsets_days",
            "must be a sequence of ints",
            "type_error",
            message=f"offsets_days must be a sequence of days, e.g. (7, 3, 1); got {offsets_days!r}",
        )
    offsets = tuple(offsets_days)
    errors = []
    if not offsets:
        errors.append(field_error("offsets_days", "must name at least one offset"))
    for index, offset in enumerate(offsets):
        if isinstance(offset, bool) or not isinstance(offset, int):
            errors.append(field_error(["offsets_days", index], f"{offset!r} is not an int", "type_error"))
        elif not 1 <= offset <= MAX_OFFSET_DAYS:
            errors.append(field_error(["offsets_days", index], f"{offset} is not in 1..{MAX_OFFSET_DAYS}"))
    duplicates = sorted({o for o in offsets if offsets.count(o) > 1 and isinstance(o, int)})
    if duplicates:
        errors.append(field_error("offsets_days", f"duplicate offsets {duplicates}"))
    if errors:
        raise ValidationError.from_errors("offsets_days", errors)
    return offsets


def reminder_content(occasion: Occasion, offset_days: int) -> dict[str, Any]:
    """The title, body and app data of one reminder, as in the seed ("Mom's birthday is in 3 days")."""
    when = "tomorrow" if offset_days == 1 else f"in {offset_days} days"
    recipient = occasion.recipient.name if occasion.recipient_id and occasion.recipient else ""
    day = f"{occasion.date:%A} {occasion.date.day} {occasion.date:%B}"
    body = (
        f"Find the perfect gift for {recipient} before {day}." if recipient else f"Find the perfect gift before {day}."
    )
    return {
        "title": f"{occasion.name} is {when}",
        "body": body,
        "data": {
            "occasion_id": str(occasion.pk),
            "occasion_date": occasion.date.isoformat(),
            "offset_days": str(offset_days),
        },
    }


@dataclass(frozen=True)
class ReminderPreferences:
    """A user's resolved reminder preferences."""

    channels: tuple[str, ...]
    timezone: zoneinfo.ZoneInfo


def preferences_for(user: AbstractBaseUser | int) -> ReminderPreferences:
    """The user's channels and time zone, or the defaults when they set none."""
    user_id = user if isinstance(user, int) else user.pk
    preference = NotificationPreference.objects.filter(user_id=user_id).first()
    if preference is None:
        return ReminderPreferences(
            channels=tuple(get_settings().REMINDER_DEFAULT_CHANNELS),
            timezone=zoneinfo.ZoneInfo(django_settings.TIME_ZONE or "UTC"),
        )
    return ReminderPreferences(channels=tuple(preference.channels), timezone=zoneinfo.ZoneInfo(preference.timezone))


def send_time(occasion_date: date, offset_days: int, tz: zoneinfo.ZoneInfo) -> datetime:
    """When the reminder `offset_days` before `occasion_date` goes out: REMINDER_SEND_TIME, local time."""
    local = datetime.combine(occasion_date - timedelta(days=offset_days), get_settings().REMINDER_SEND_TIME, tzinfo=tz)
    return local.astimezone(zoneinfo.ZoneInfo("UTC"))


def schedule_reminders_for_occasion(
    occasion: Occasion, offsets_days: Sequence[int] = DEFAULT_OFFSETS_DAYS
) -> ReminderScheduling:
    """Make the occasion's reminders match its stored date, the offsets and the user's channels.

    One QUEUED schedule per (offset, channel), sent at `REMINDER_SEND_TIME` in the
    user's time zone. Offsets whose send time has passed are skipped and reported.
    Calling it again changes nothing; after the occasion's date (or the offsets, or
    the user's channels) changed, the queued schedules that no longer fit are
    cancelled and new ones created. Schedules already sending, sent or failed are
    history and are left alone. Reads the occasion as stored, under a row lock, so
    concurrent calls for one occasion serialise.
    """
    offsets = validate_offsets(offsets_days)
    if occasion.pk is None:
        raise ValidationError.for_field(
            "occasion", "not saved", message="the occasion must be saved before its reminders are scheduled"
        )
    now = timezone.now()
    with transaction.atomic():
        try:
            current = Occasion.objects.select_for_update(of=("self",)).select_related("recipient").get(pk=occasion.pk)
        except Occasion.DoesNotExist:
            raise ValidationError.for_field(
                "occasion", "does not exist", message=f"occasion {occasion.pk} does not exist"
            ) from None
        preferences = preferences_for(current.user_id)
        wanted = {
            (offset, channel): send_time(current.date, offset, preferences.timezone)
            for offset in offsets
            for channel in preferences.channels
        }
        # Locked, so a dispatch cannot move a row between this decision and the cancel below.
        live = list(current.schedules.select_for_update().exclude(status=NotificationStatus.CANCELLED))
        unchanged: list[NotificationSchedule] = []
        stale: list[NotificationSchedule] = []
        for schedule in live:
            key = (schedule.offset_days, schedule.channel)
            fits = schedule.occasion_date == current.date and key in wanted
            if schedule.status == NotificationStatus.QUEUED:
                # A due row whose send time moved into the past (a new time zone) is still sent as it is.
                if fits and (schedule.scheduled_for == wanted[key] or wanted[key] <= now):
                    unchanged.append(schedule)
                else:
                    stale.append(schedule)
            elif fits:
                unchanged.append(schedule)  # Already sending, sent or failed: done for this date.
        if stale:
            NotificationSchedule.objects.filter(pk__in=[s.pk for s in stale], status=NotificationStatus.QUEUED).update(
                status=NotificationStatus.CANCELLED, updated_at=now
            )
            for schedule in stale:
                schedule.status = NotificationStatus.CANCELLED
        done = {(s.offset_days, s.channel) for s in unchanged}
        skipped_past = sorted({key[0] for key, when in wanted.items() if key not in done and when <= now})
        to_create = [
            NotificationSchedule(
                user_id=current.user_id,
                occasion=current,
                channel=channel,
                offset_days=offset,
                occasion_date=current.date,
                scheduled_for=when,
                payload=reminder_content(current, offset),
                status=NotificationStatus.QUEUED,
            )
            for (offset, channel), when in wanted.items()
            if (offset, channel) not in done and when > now
        ]
        created = NotificationSchedule.objects.bulk_create(to_create)
    result = ReminderScheduling(
        created=tuple(created),
        skipped_past=tuple(skipped_past),
        unchanged=tuple(unchanged),
        cancelled=tuple(stale),
    )
    logger.info(
        "reminders of occasion %s: %d created, %d unchanged, %d cancelled, offsets %s already past",
        current.pk,
        len(result.created),
        len(result.unchanged),
        len(result.cancelled),
        list(result.skipped_past),
        extra={"occasion_id": current.pk, "entity_id": str(current.pk)},
    )
    return result


@dataclass(frozen=True)
class ClaimedReminder:
    """A row the sweep claimed: what its dispatch job needs."""

    schedule_id: int
    user_id: int
    occasion_id: int
    channel: str
    payload: dict[str, Any]
    scheduled_for: datetime


# One statement claims a batch: the subquery locks due rows other sweeps have not
# locked (SKIP LOCKED), the UPDATE marks them claimed, RETURNING hands them back,
# so a batch costs one round trip and no model instances.
_CLAIM_SQL = """
UPDATE {table} AS s SET claimed_at = %(now)s
WHERE s.id IN (
    SELECT id FROM {table}
    WHERE {condition}
    ORDER BY {order}
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING s.id, s.user_id, s.occasion_id, s.channel, s.payload, s.scheduled_for
"""
#: Due rows not yet handed to the broker (served by the `schedule_due_unclaimed` index).
_DUE = "status = 'QUEUED' AND claimed_at IS NULL AND scheduled_for <= %(due_before)s"
#: Claims never dispatched (the sweeping process died), and sends never finished (the message was lost).
_ABANDONED = (
    "(status = 'QUEUED' AND claimed_at < %(claim_cutoff)s) OR (status = 'SENDING' "
    "AND sending_started_at < %(sending_cutoff)s AND (claimed_at IS NULL OR claimed_at < %(claim_cutoff)s))"
)


def _claim(
    condition: str, order: str, params: dict[str, Any], *, batch_size: int, now: datetime
) -> list[ClaimedReminder]:
    sql = _CLAIM_SQL.format(table=NotificationSchedule._meta.db_table, condition=condition, order=order)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {**params, "now": now, "limit": batch_size})
        rows = cursor.fetchall()
    return [
        ClaimedReminder(
            schedule_id=pk,
            user_id=user_id,
            occasion_id=occasion_id,
            channel=channel,
            payload=json.loads(payload) if isinstance(payload, str) else payload,
            scheduled_for=scheduled_for,
        )
        for pk, user_id, occasion_id, channel, payload, scheduled_for in rows
    ]


def _claim_due(batch_size: int, *, now: datetime, due_before: datetime) -> list[ClaimedReminder]:
    """Claim up to `batch_size` due, unclaimed QUEUED rows, committed as claimed before they are enqueued."""
    return _claim(_DUE, "scheduled_for", {"due_before": due_before}, batch_size=batch_size, now=now)


def _claim_abandoned(batch_size: int, *, now: datetime) -> list[ClaimedReminder]:
    """Re-claim rows whose dispatch is overdue: a claim never dispatched, or a send never finished.

    A claim is lost if the process died between claiming and enqueueing; a send is
    stuck if its worker died mid-send and the message is gone. Either way the
    dispatch job (deduplicated by its id if it is still pending) settles the row:
    it sends a QUEUED row, and fails a stale SENDING one as "delivery unknown".
    """
    conf = get_settings()
    params = {
        "claim_cutoff": now - timedelta(seconds=conf.REMINDER_CLAIM_LEASE_SECONDS),
        "sending_cutoff": now - timedelta(seconds=conf.REMINDER_SENDING_LEASE_SECONDS),
    }
    return _claim(_ABANDONED, "id", params, batch_size=batch_size, now=now)


def _dispatch_fields(row: ClaimedReminder) -> dict[str, Any]:
    """The `reminder_dispatch` payload fields of a claimed row."""
    return {
        "schedule_id": row.schedule_id,
        "user_id": row.user_id,
        "channel": row.channel,
        "payload": row.payload,
        "scheduled_for": row.scheduled_for,
        "occasion_id": row.occasion_id,
        "triggered_by": TriggeredBy.SCHEDULER,
    }


def _enqueue_all(rows: list[ClaimedReminder], *, now: datetime) -> int:
    """Hand a claimed batch to the broker in one round trip; a row that cannot be enqueued is failed, not retried."""
    if not rows:
        return 0
    jobs = []
    for row in rows:
        delay = max(row.scheduled_for - now, timedelta(0))
        jobs.append((_dispatch_fields(row), {"delay": delay} if delay else {}))
    enqueued = 0
    for row, result in zip(rows, enqueue_many(JobType.REMINDER_DISPATCH, jobs), strict=True):
        if isinstance(result, ValidationError):
            _fail_undispatchable(row, result)
        else:
            enqueued += 1
    return enqueued


def _fail_undispatchable(row: ClaimedReminder, exc: ValidationError) -> None:
    logger.error(
        "reminder %s cannot be dispatched and is failed: %s",
        row.schedule_id,
        exc,
        extra={"entity_id": str(row.schedule_id), "job_type": "reminder_dispatch"},
    )
    NotificationSchedule.objects.filter(pk=row.schedule_id, status=NotificationStatus.QUEUED).update(
        status=NotificationStatus.FAILED, last_error=str(exc)[:ERROR_EXCERPT_CHARS], updated_at=timezone.now()
    )


def validate_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValidationError.for_field(
            "batch_size",
            f"must be in 1..{MAX_BATCH_SIZE}",
            message=f"batch_size must be an int in 1..{MAX_BATCH_SIZE}, got {batch_size!r}",
        )
    return batch_size


def process_overdue_reminders(batch_size: int = 100, *, lookahead: timedelta = timedelta(0)) -> int:
    """Claim every due reminder and enqueue its dispatch; returns how many were handed to the broker.

    Rows are claimed `batch_size` at a time with `SELECT … FOR UPDATE SKIP LOCKED`
    (concurrent sweeps split the rows, never share one) and committed as claimed
    before their jobs are sent. Rows due within `lookahead` are claimed too and sent
    with the broker's delay, so they go out on time rather than at the next sweep;
    keep it within the spine's delay horizon. Rows whose earlier claim or send was
    abandoned (a process died) are handed over again; their dispatch settles them.
    """
    batch_size = validate_batch_size(batch_size)
    if lookahead < timedelta(0) or lookahead > get_settings().delay_horizon:
        raise ValidationError.for_field(
            "lookahead",
            "out of range",
            message=f"lookahead must be between 0 and the delay horizon ({get_settings().delay_horizon}), got {lookahead}",
        )
    enqueued = 0
    now = timezone.now()
    while rows := _claim_abandoned(batch_size, now=now):
        enqueued += _enqueue_all(rows, now=now)
        if len(rows) < batch_size:
            break
    while True:
        now = timezone.now()
        rows = _claim_due(batch_size, now=now, due_before=now + lookahead)
        enqueued += _enqueue_all(rows, now=now)
        if len(rows) < batch_size:
            break
    if enqueued:
        logger.info(
            "reminder sweep handed %d reminders to the broker", enqueued, extra={"job_type": "reminder_dispatch"}
        )
    return enqueued
