"""Pydantic payload schemas of the job types: what a job carries through the broker.

Payloads are frozen, reject unknown fields, and serialise to JSON-safe dicts
(`model_dump(mode="json")`); the actor validates them again on the way out.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

#: Largest collections request a surface may make.
MAX_COLLECTIONS = 24
MAX_PRODUCTS_PER_COLLECTION = 100

EntityId = Annotated[int, Field(ge=1, strict=False)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


#: What a `triggered_by` value looks like: dotted lowercase words ("product.created", "signup").
TRIGGERED_BY_PATTERN = r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$"
#: Longest `triggered_by` value.
MAX_TRIGGERED_BY_LENGTH = 64


class TriggeredBy(StrEnum):
    """The built-in reasons a job is enqueued (kept in logs and dead letters).

    A host project may pass reasons of its own ("signup", "billing.renewed"):
    any value matching `TRIGGERED_BY_PATTERN` is accepted.
    """

    PRODUCT_CREATED = "product.created"
    PRODUCT_UPDATED = "product.updated"
    PROFILE_COMPLETED = "profile.completed"
    SCHEDULER = "scheduler"
    MANUAL = "manual"
    RETRY = "retry"


def _plain_reason(value: object) -> object:
    # A TriggeredBy member is stored as its plain value, so payloads compare and dump alike.
    return value.value if isinstance(value, TriggeredBy) else value


TriggeredByValue = Annotated[
    str,
    BeforeValidator(_plain_reason),
    StringConstraints(pattern=TRIGGERED_BY_PATTERN, max_length=MAX_TRIGGERED_BY_LENGTH),
]


class SurfaceName(StrEnum):
    HOME = "home"
    DISCOVERY = "discovery"
    OCCASION = "occasion"


class ChannelName(StrEnum):
    PUSH = "PUSH"
    EMAIL = "EMAIL"


class JobPayload(BaseModel):
    """Base of every payload: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    triggered_by: TriggeredByValue


class ProductEnrichmentPayload(JobPayload):
    product_id: EntityId
    prompt_version: ShortText | None = None
    current_enrichment_version: ShortText | None = None


class ProductEmbeddingPayload(JobPayload):
    product_id: EntityId
    previous_text_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,64}$")] | None = None


class TasteProfileEmbeddingPayload(JobPayload):
    taste_profile_id: EntityId
    user_id: EntityId
    recipient_id: EntityId | None = None


class CollectionFilters(BaseModel):
    """Filters a surface may put on the products of its collections."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    is_featured: bool | None = None
    min_price: Decimal | None = Field(default=None, ge=0)
    max_price: Decimal | None = Field(default=None, ge=0)
    tags: tuple[ShortText, ...] = ()
    brands: tuple[ShortText, ...] = ()


class CuratedCollectionsPayload(JobPayload):
    surface: SurfaceName
    target_date: date
    collections_count: int = Field(default=6, ge=1, le=MAX_COLLECTIONS)
    products_per_collection: int = Field(default=12, ge=1, le=MAX_PRODUCTS_PER_COLLECTION)
    filters: CollectionFilters | None = None

    def params(self) -> dict[str, object]:
        """The parameters that make two builds of one (surface, date) different."""
        return {
            "collections_count": self.collections_count,
            "products_per_collection": self.products_per_collection,
            "filters": self.filters.model_dump(mode="json", exclude_defaults=True) if self.filters else {},
        }

    def params_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.params(), sort_keys=True).encode()).hexdigest()


class ReminderContent(BaseModel):
    """What the user reads: a title, a body, and app data for a push."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    data: dict[str, str] = Field(default_factory=dict)


class ReminderDispatchPayload(JobPayload):
    schedule_id: EntityId
    user_id: EntityId
    channel: ChannelName
    payload: ReminderContent
    scheduled_for: AwareDatetime
    occasion_id: EntityId | None = None


class DjangoTaskPayload(JobPayload):
    """A `django.tasks` task run on the spine: which function, its arguments, and its result row."""

    #: Tasks are enqueued by host code; a dead-letter retry says "retry".
    triggered_by: TriggeredBy = TriggeredBy.MANUAL
    result_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    #: Dotted path of the module-level `@task` object.
    task_path: Annotated[str, StringConstraints(min_length=3, max_length=255)]
    #: The `TASKS` alias the task was enqueued through (signals name its backend class).
    backend: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
