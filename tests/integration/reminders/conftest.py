"""Fixtures of the reminder tests: a real SMTP sink, a real HTTP push receiver, users and occasions.

`smtp_sink` is an aiosmtpd server on 127.0.0.1 (a free port) that Django's SMTP
backend talks to through `MAILERS`; `push_receiver` is an HTTP server on
127.0.0.1 that the `HttpPushBackend` posts to. Both record what they received
and can be scripted to refuse, fail or hang.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.contrib.auth import get_user_model
from django.utils import timezone

from gifting_jobs.models import Channel, NotificationSchedule, NotificationStatus, Occasion, Recipient
from gifting_jobs.models.reminders import NotificationPreference

#: Bearer token the push receiver expects.
PUSH_TOKEN = "test-push-token"
#: Longest a blocked push request waits for `release()`.
BLOCK_TIMEOUT_SECONDS = 60.0


# --- SMTP sink --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SunkEmail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class _SinkController(Controller):
    """aiosmtpd's Controller on port 0: learn the bound port before its self-check connects."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """Records every message it accepts; `refuse(address, reply, times)` scripts RCPT replies."""

    def __init__(self) -> None:
        self.messages: list[SunkEmail] = []
        self._refusals: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.controller = _SinkController(self, hostname="127.0.0.1", port=0)

    @property
    def port(self) -> int:
        return self.controller.port

    def refuse(self, address: str, reply: str, *, times: int | None = None) -> None:
        """Answer RCPT TO `address` with `reply` (e.g. "550 5.1.1 no such user"): `times` times, or always."""
        with self._lock:
            self._refusals[address] = [reply, times]

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        with self._lock:
            refusal = self._refusals.get(address)
            if refusal is not None:
                reply, times = refusal
                if times is None or times > 0:
                    if times is not None:
                        refusal[1] = times - 1
                    return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(SunkEmail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def mailers(self) -> dict[str, Any]:
        return {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": 5},
            }
        }


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[SmtpSink]:
    """A running SMTP sink; `MAILERS["default"]` sends to it over real SMTP for the test."""
    # aiosmtpd logs every SMTP command at INFO: noise that costs more than the SMTP itself.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = SmtpSink()
    sink.controller.start()
    settings.MAILERS = sink.mailers()
    yield sink
    sink.controller.stop()


# --- HTTP push receiver -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedPush:
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def idempotency_key(self) -> str:
        return self.headers.get("idempotency-key", "")


@dataclass
class PushReceiver:
    """Records every POST; answers scripted responses (default 200 with an id); can hold requests.

    Like a real push gateway it delivers one notification per Idempotency-Key:
    `delivered` keeps the first accepted request of each key.
    """

    url: str = ""
    requests: list[ReceivedPush] = field(default_factory=list)
    delivered: dict[str, ReceivedPush] = field(default_factory=dict)
    _script: deque[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=deque)
    _always: tuple[int, dict[str, Any], dict[str, str]] | None = None
    _open: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._open.set()

    def script(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        """Answer the next request with this status (then back to the default)."""
        self._script.append((status, body or {"error": f"status {status}"}, headers or {}))

    def always(self, status: int, body: dict[str, Any] | None = None) -> None:
        """Answer every request with this status."""
        self._always = (status, body or {"error": f"status {status}"}, {})

    def block(self) -> None:
        """Hold every request (the sender waits for an answer) until `release()`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def handle(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        received = ReceivedPush(headers=headers, body=body, at=time.monotonic())
        with self._lock:
            self.requests.append(received)
        self._open.wait(BLOCK_TIMEOUT_SECONDS)
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self._always is not None:
                return self._always
            self.delivered.setdefault(received.idempotency_key, received)
            return 200, {"id": f"push-{next(self._ids)}"}, {}


def _handler_for(receiver: PushReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, body, extra_headers = receiver.handle(headers, json.loads(raw or b"{}"))
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in extra_headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # The sender is gone (a killed worker): nothing to answer.

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def push_server() -> Iterator[PushReceiver]:
    """A running HTTP push receiver on 127.0.0.1 (no settings changed)."""
    receiver = PushReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/v1/push"
    thread = threading.Thread(target=server.serve_forever, name="push-receiver", daemon=True)
    thread.start()
    yield receiver
    receiver.release()
    server.shutdown()
    server.server_close()


@pytest.fixture
def push_receiver(push_server: PushReceiver, settings: Any) -> PushReceiver:
    """The push receiver, with `GIFTING_JOBS` sending pushes to it (and retry backoffs scaled down)."""
    settings.GIFTING_JOBS = {
        **settings.GIFTING_JOBS,
        "PUSH_BACKEND": "gifting_jobs.providers.push.http.HttpPushBackend",
        "PUSH_URL": push_server.url,
        "PUSH_TOKEN": PUSH_TOKEN,
        "RETRY_BACKOFF_SCALE": 0.01,
    }
    return push_server


# --- Domain rows ------------------------------------------------------------------------------


_users = itertools.count(1)


def make_user(*, email: str | None = None, channels: list[str] | None = None, tz: str | None = None) -> Any:
    """A user; with `channels` or `tz`, a NotificationPreference too."""
    n = next(_users)
    user = get_user_model().objects.create(
        username=f"gifter-{n}-{time.monotonic_ns()}", email=email or f"gifter{n}@example.com"
    )
    if channels is not None or tz is not None:
        NotificationPreference.objects.create(
            user=user, channels=channels if channels is not None else [Channel.PUSH], timezone=tz or "UTC"
        )
    return user


def make_occasion(
    user: Any, *, name: str = "Mom's birthday", on: date | None = None, recipient: str | None = None
) -> Occasion:
    who = Recipient.objects.create(user=user, name=recipient, relationship="parent") if recipient else None
    return Occasion.objects.create(
        user=user, name=name, date=on or timezone.now().date() + timedelta(days=30), recipient=who
    )


def make_schedule(
    occasion: Occasion,
    *,
    channel: str = Channel.PUSH,
    offset_days: int = 1,
    scheduled_for: datetime | None = None,
    status: str = NotificationStatus.QUEUED,
    **fields: Any,
) -> NotificationSchedule:
    """A reminder row as `schedule_reminders_for_occasion` makes them, due now unless told otherwise."""
    fields.setdefault(
        "payload",
        {
            "title": f"{occasion.name} is in {offset_days} days",
            "body": "Find the perfect gift before it's too late.",
            "data": {"occasion_id": str(occasion.pk), "offset_days": str(offset_days)},
        },
    )
    return NotificationSchedule.objects.create(
        user_id=occasion.user_id,
        occasion=occasion,
        channel=channel,
        offset_days=offset_days,
        occasion_date=occasion.date,
        scheduled_for=scheduled_for or timezone.now() - timedelta(seconds=1),
        status=status,
        **fields,
    )
