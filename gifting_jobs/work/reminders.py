"""The reminder dispatch job: send one schedule at most once, enforced in Postgres.

States move only by conditional updates on the row:

    QUEUED --claim--> SENDING --sent--> SENT
                         |--transient--> QUEUED (the spine retries the job)
                         |--permanent--> FAILED (the spine writes the dead letter)

Only the dispatch whose `UPDATE … WHERE status = 'QUEUED'` changed the row may
send; a redelivered or duplicated dispatch that loses does nothing. CANCELLED
rows and deleted ones are never sent.

Provider accepted, worker died before recording SENT: the row stays SENDING. The
redelivered job waits until `REMINDER_SENDING_LEASE_SECONDS` have passed since
the send started, then fails the row as "delivery unknown" and dead-letters the
job, without sending again (at-most-once: a reminder is never sent twice). Support
staff decide from the dead letter; retrying it sends the reminder again on purpose.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, InvalidMailer, MailerDoesNotExist
from django.db import connection
from django.db.models import F, QuerySet
from django.utils import timezone

from gifting_jobs.catalog import JobType, get_spec
from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import ConfigurationError, PermanentJobError, TransientJobError
from gifting_jobs.limits import PROVIDER_MESSAGE_ID_MAX_LENGTH
from gifting_jobs.models import Channel, NotificationSchedule, NotificationStatus
from gifting_jobs.payloads import ChannelName, ReminderDispatchPayload, TriggeredBy
from gifting_jobs.providers.push import PushMessage, get_push_backend
from gifting_jobs.ratelimits import EMAIL, PUSH, limited_call, rate_limit_answer
from gifting_jobs.retry_policy import ErrorKind

logger = logging.getLogger(__name__)

#: SMTP reply codes from here up are permanent (RFC 5321: 5yz); 4yz are transient.
SMTP_PERMANENT_FROM = 500
#: Extra wait after the sending lease before a redelivered dispatch looks at the row again.
LEASE_RECHECK_MARGIN_SECONDS = 1.0
#: Longest error text kept on the row.
ERROR_LIMIT = 2000
#: The `GIFTING_JOBS["RATE_LIMITS"]` key each channel's sends count against.
CHANNEL_RATE_LIMIT_KEYS = {Channel.PUSH.value: PUSH, Channel.EMAIL.value: EMAIL}


def idempotency_key(schedule_id: int) -> str:
    """The provider-side key of one schedule: equal for every attempt and every retry of it."""
    return f"reminder-{schedule_id}"


# The claim and the record of a send run for every reminder: one plain statement
# each, instead of building the same ORM update (a Case, several filters) per job.
_CLAIM_SQL = f"""
UPDATE {NotificationSchedule._meta.db_table} SET status = 'SENDING', sending_started_at = %(now)s, updated_at = %(now)s,
    attempts = CASE WHEN status = 'FAILED' THEN 1 ELSE attempts + 1 END
WHERE id = %(id)s AND status = ANY(%(claimable)s)
"""
_SENT_SQL = f"""
UPDATE {NotificationSchedule._meta.db_table} SET status = 'SENT', sent_at = %(now)s, provider_message_id = %(provider_id)s,
    last_error = '', updated_at = %(now)s
WHERE id = %(id)s AND status = 'SENDING' AND sending_started_at = %(started)s
"""
#: States a dispatch may claim: QUEUED, and FAILED too for a dead letter retried by hand (a resend on purpose).
_CLAIMABLE = [NotificationStatus.QUEUED.value]
_CLAIMABLE_ON_RETRY = [NotificationStatus.QUEUED.value, NotificationStatus.FAILED.value]


def _execute(sql: str, params: dict[str, Any]) -> int:
    """Run one of the statements above; returns the rows changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        changed: int = cursor.rowcount
        return changed


def dispatch_reminder(payload: ReminderDispatchPayload) -> None:
    """Send the reminder `payload.schedule_id` unless another dispatch already owns it."""
    extra = {"entity_id": str(payload.schedule_id), "channel": payload.channel.value}
    # The turn is taken before the claim: a job refused by the rate limit is
    # snoozed without touching the row (its attempts count sends, not turns).
    with limited_call(CHANNEL_RATE_LIMIT_KEYS[payload.channel.value]):
        started = timezone.now()
        claimable = _CLAIMABLE_ON_RETRY if payload.triggered_by == TriggeredBy.RETRY else _CLAIMABLE
        won = _execute(_CLAIM_SQL, {"now": started, "id": payload.schedule_id, "claimable": claimable})
        if not won:
            _settle_lost_claim(payload, now=started, extra=extra)
            return
        try:
            provider_message_id = _send(payload)[:PROVIDER_MESSAGE_ID_MAX_LENGTH]
        except Exception as exc:
            claim = NotificationSchedule.objects.filter(
                pk=payload.schedule_id, status=NotificationStatus.SENDING, sending_started_at=started
            )
            _record_failure(payload.schedule_id, claim, exc, extra=extra)
            raise
    sent = _execute(
        _SENT_SQL,
        {"now": timezone.now(), "provider_id": provider_message_id, "id": payload.schedule_id, "started": started},
    )
    if not sent:
        # Only a send longer than the lease gets here: a redelivery failed the row meanwhile.
        NotificationSchedule.objects.filter(pk=payload.schedule_id, sending_started_at=started).update(
            status=NotificationStatus.SENT, sent_at=timezone.now(), provider_message_id=provider_message_id
        )
        logger.error("reminder %s was sent after its lease expired", payload.schedule_id, extra=extra)
    logger.info("reminder %s sent by %s (%s)", payload.schedule_id, payload.channel, provider_message_id, extra=extra)


def _settle_lost_claim(payload: ReminderDispatchPayload, *, now: datetime, extra: dict[str, Any]) -> None:
    """Another dispatch owns the row, or it is gone, cancelled or done: never send."""
    row = NotificationSchedule.objects.filter(pk=payload.schedule_id).values("status", "sending_started_at").first()
    if row is None:
        logger.info("reminder %s no longer exists (occasion deleted): nothing sent", payload.schedule_id, extra=extra)
        return
    status = row["status"]
    if status != NotificationStatus.SENDING:
        logger.info("reminder %s is %s: nothing sent", payload.schedule_id, status, extra=extra)
        return
    lease = timedelta(seconds=get_settings().REMINDER_SENDING_LEASE_SECONDS)
    started = row["sending_started_at"] or now
    if now - started < lease:
        # Another dispatch may be sending it right now; look again once its lease is over.
        wait = (started + lease - now).total_seconds() + LEASE_RECHECK_MARGIN_SECONDS
        raise TransientJobError(f"reminder {payload.schedule_id} is being sent by another dispatch", retry_after=wait)
    message = (
        f"delivery unknown: a dispatch started sending at {started.isoformat()} and never recorded the outcome "
        "(its worker died); not resent automatically, retry this job to send it again"
    )
    failed = NotificationSchedule.objects.filter(
        pk=payload.schedule_id, status=NotificationStatus.SENDING, sending_started_at=started
    ).update(status=NotificationStatus.FAILED, last_error=message, updated_at=now)
    if failed:
        logger.error("reminder %s: %s", payload.schedule_id, message, extra=extra)
        raise PermanentJobError(f"reminder {payload.schedule_id}: {message}")


def _record_failure(
    schedule_id: int, claim: QuerySet[NotificationSchedule], exc: Exception, *, extra: dict[str, Any]
) -> None:
    """Put the row back for a retry, or fail it; the caller re-raises for the spine."""
    spec = get_spec(JobType.REMINDER_DISPATCH)
    kind = spec.classify(exc)
    attempts = claim.values_list("attempts", flat=True).first() or 0
    error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
    if rate_limit_answer(exc) is not None:
        # The provider said "slow down": the job snoozes, and the row gets its attempt back.
        claim.update(
            status=NotificationStatus.QUEUED,
            attempts=F("attempts") - 1,
            claimed_at=timezone.now(),
            last_error=error,
            updated_at=timezone.now(),
        )
        logger.info("reminder %s: provider rate limited, snoozed: %s", schedule_id, exc, extra=extra)
        return
    if kind is ErrorKind.TRANSIENT and attempts < spec.retry.attempts:
        claim.update(
            status=NotificationStatus.QUEUED, claimed_at=timezone.now(), last_error=error, updated_at=timezone.now()
        )
        logger.warning("reminder %s not sent (attempt %d), will retry: %s", schedule_id, attempts, exc, extra=extra)
        return
    claim.update(status=NotificationStatus.FAILED, last_error=error, updated_at=timezone.now())
    logger.error("reminder %s failed for good: %s", schedule_id, exc, exc_info=exc, extra=extra)
    if kind is ErrorKind.TRANSIENT:
        # The row's attempts are spent: the spine must dead-letter now even if its own budget was raised.
        raise PermanentJobError(f"gave up after {attempts} attempts: {error}") from exc


def _send(payload: ReminderDispatchPayload) -> str:
    """Send through the payload's channel; returns the provider's message id."""
    content = payload.payload
    if payload.channel == ChannelName.EMAIL:
        return send_email_reminder(payload.schedule_id, payload.user_id, subject=content.title, body=content.body)
    result = get_push_backend().send(
        PushMessage(
            user_id=payload.user_id,
            title=content.title,
            body=content.body,
            data=dict(content.data),
            idempotency_key=idempotency_key(payload.schedule_id),
        )
    )
    return result.provider_message_id


def email_address(user_id: int) -> str:
    """The address reminders go to: the preference's, else the account's (one query)."""
    user_model = get_user_model()
    row = (
        user_model.objects.filter(pk=user_id)
        .values_list(user_model.get_email_field_name(), "gift_notification_preference__email")
        .first()
    )
    if row is None:
        return ""
    account, preferred = row
    return preferred or account or ""


def message_id(schedule_id: int) -> str:
    """A Message-ID fixed per schedule, so a resend on purpose is recognisable as the same email."""
    domain = (django_settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost").strip("> ")
    return f"<{idempotency_key(schedule_id)}@{domain}>"


def send_email_reminder(schedule_id: int, user_id: int, *, subject: str, body: str) -> str:
    """Send one reminder email through Django's mailers; SMTP errors become job errors."""
    address = email_address(user_id)
    if not address:
        raise PermanentJobError(f"user {user_id} has no email address for reminder {schedule_id}")
    mid = message_id(schedule_id)
    message = EmailMessage(
        subject=subject,
        body=body,
        to=[address],
        headers={"Message-ID": mid, "X-Gifting-Reminder": str(schedule_id)},
    )
    try:
        message.send(using=get_settings().REMINDER_MAILER)
    except (MailerDoesNotExist, InvalidMailer) as exc:
        raise ConfigurationError(f"GIFTING_JOBS['REMINDER_MAILER']: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise classify_smtp_error(exc) from exc
    return mid


def classify_smtp_error(exc: BaseException) -> TransientJobError | PermanentJobError:
    """5xx replies are permanent (unknown recipient, rejected sender); 4xx, timeouts and refusals are transient."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(code >= SMTP_PERMANENT_FROM for code in codes):
            return PermanentJobError(f"recipient refused by the SMTP server: {exc.recipients}")
        return TransientJobError(f"recipient deferred by the SMTP server: {exc.recipients}")
    code = getattr(exc, "smtp_code", None)
    if isinstance(code, int) and code >= SMTP_PERMANENT_FROM:
        return PermanentJobError(f"SMTP server refused the message ({code}): {_smtp_text(exc)}")
    if isinstance(code, int):
        return TransientJobError(f"SMTP server deferred the message ({code}): {_smtp_text(exc)}")
    if isinstance(exc, TimeoutError):
        return TransientJobError(f"SMTP server timed out: {exc}")
    return TransientJobError(f"SMTP server unreachable: {exc}")


def _smtp_text(exc: BaseException) -> str:
    error = getattr(exc, "smtp_error", b"")
    return error.decode(errors="replace") if isinstance(error, bytes) else str(error)
