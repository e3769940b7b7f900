"""The push backend interface."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PushMessage:
    """A push notification to one user."""

    user_id: int
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    #: Lets a provider drop a duplicate of a message it already accepted.
    idempotency_key: str = ""


@dataclass(frozen=True)
class PushResult:
    """What the provider said: its id for the message."""

    provider_message_id: str


class PushBackend:
    """Base class: subclasses implement `send` and raise Transient/PermanentJobError on failure."""

    #: Whether the provider itself drops a second message with the same idempotency key.
    supports_idempotency_key: bool = False
    #: Modules the provider imports when used; `manage.py check` reports a missing one.
    required_modules: tuple[str, ...] = ()
    #: The optional dependency that installs them: `pip install "gifting-jobs[<extra>]"`.
    extra: str | None = None

    def send(self, message: PushMessage) -> PushResult:
        raise NotImplementedError
