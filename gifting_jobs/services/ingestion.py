"""Product ingestion from the CMS: the webhook body's schema and the idempotent upsert.

`handle_product_changed(payload)` mirrors one CMS event into `Product`. It is
safe against redeliveries (the same delivery twice saves nothing the second
time), out-of-order deliveries (an older `updatedAt` never overwrites a newer
mirror) and concurrent deliveries of one product (one row, never two).
Processing jobs are not enqueued here: the Product `post_save` signal does it
when a save changes the embedded text (see `gifting_jobs.signals`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from django.db import IntegrityError, transaction
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError as PydanticValidationError,
    field_validator,
)

from gifting_jobs.exceptions import ValidationError, field_error
from gifting_jobs.models import Product, ProductStatus

logger = logging.getLogger(__name__)

#: Longest CMS id the mirror stores (`Product.external_id`).
MAX_EXTERNAL_ID_LENGTH = 64
MAX_TITLE_LENGTH = 500
MAX_BRAND_LENGTH = 200
#: Price precision of the mirror (`Product.price`): 12 digits, 2 decimals.
PRICE_MAX_DIGITS, PRICE_DECIMAL_PLACES = 12, 2
MAX_TAGS = 100
MAX_TAG_LENGTH = 100
#: The `updatedAt` range the mirror stores: a day inside Python's datetime range on each side, so the
#: value stays readable when Postgres or Django shifts it into any time zone (UTC-12 to UTC+14).
MIN_CMS_TIMESTAMP = datetime(1, 1, 2, tzinfo=UTC)
MAX_CMS_TIMESTAMP = datetime(9999, 12, 30, tzinfo=UTC)


def _storable_text(value: str) -> str:
    """Refuse what Postgres text and JSON columns cannot hold: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode: it contains a lone surrogate (\\ud800-\\udfff)") from None
    return value


def _storable_timestamp(value: datetime) -> datetime:
    """Refuse an `updatedAt` that Python could no longer read back once stored (as UTC) and shifted."""
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not MIN_CMS_TIMESTAMP <= in_utc <= MAX_CMS_TIMESTAMP:
        raise ValueError(
            f"must lie between {MIN_CMS_TIMESTAMP.isoformat()} and {MAX_CMS_TIMESTAMP.isoformat()} once in UTC"
        )
    return value


#: Put after any `StringConstraints` (pydantic checks lengths before stripping otherwise).
STORABLE = AfterValidator(_storable_text)
#: Any text stored from a CMS document.
StorableText = Annotated[str, STORABLE]
#: A CMS `updatedAt`: aware, and inside the range every time zone can represent.
CmsTimestamp = Annotated[AwareDatetime, AfterValidator(_storable_timestamp)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG_LENGTH), STORABLE]
#: ISO 4217 letters in any case (stored upper case), or empty.
CurrencyCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^([A-Za-z]{3})?$")]


class ProductEvent(StrEnum):
    """The CMS events the webhook accepts."""

    CREATED = "product.created"
    UPDATED = "product.updated"
    DELETED = "product.deleted"


class IngestionAction(StrEnum):
    """What an event did to the mirror."""

    #: A new row was written.
    CREATED = "created"
    #: An existing row was overwritten by a newer document.
    UPDATED = "updated"
    #: The row is now ARCHIVED (kept, never recommended).
    ARCHIVED = "archived"
    #: The document is older than the mirror (or conflicts with it at the same time): ignored.
    STALE = "stale"
    #: A redelivery: the mirror already says exactly this; nothing was saved.
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class IngestionResult:
    """The outcome of one event: the row concerned (None if there is none) and what happened."""

    external_id: str
    product_id: int | None
    action: IngestionAction


CmsId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_EXTERNAL_ID_LENGTH), STORABLE
]


class _CmsDocument(BaseModel):
    """Base of the CMS documents: camelCase aliases, unknown CMS fields ignored, frozen."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: CmsId

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # CMSs with numeric primary keys send ids as JSON numbers; the mirror keys on text.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class ProductDocument(_CmsDocument):
    """A CMS product as sent with product.created / product.updated."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE_LENGTH), STORABLE]
    description: StorableText | None = ""
    brand: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_BRAND_LENGTH), STORABLE] | None = ""
    price: (
        Annotated[
            Decimal, Field(ge=0, max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES, allow_inf_nan=False)
        ]
        | None
    ) = None
    currency: CurrencyCode | None = ""
    status: ProductStatus = ProductStatus.DRAFT
    visible_to_gifter: StrictBool = Field(default=True, alias="visibleToGifter")
    is_featured: StrictBool = Field(default=False, alias="isFeatured")
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] = Field(default_factory=list)
    updated_at: CmsTimestamp = Field(alias="updatedAt")

    @field_validator("status", mode="before")
    @classmethod
    def _status_any_case(cls, value: Any) -> Any:
        # Payload CMS spells its draft status in lower case ("draft", "published").
        return value.strip().upper() if isinstance(value, str) else value

    def mirrored_values(self) -> dict[str, Any]:
        """The `Product` field values this document stands for."""
        return {
            "title": self.title,
            "description": (self.description or "").strip(),
            "brand": self.brand or "",
            "price": self.price,
            "currency": self.currency or "",
            "status": ProductStatus(self.status),
            "visible_to_gifter": self.visible_to_gifter,
            "is_featured": self.is_featured,
            "tags": list(self.tags),
            "cms_updated_at": self.updated_at,
        }


class DeletedProductDocument(_CmsDocument):
    """A deleted CMS product: only its id is needed; `updatedAt`, when sent, guards against staleness."""

    title: StorableText | None = None
    updated_at: CmsTimestamp | None = Field(default=None, alias="updatedAt")


class _Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event: ProductEvent
    doc: dict[str, Any]


@dataclass(frozen=True)
class ProductChange:
    """A validated webhook body."""

    event: ProductEvent
    doc: ProductDocument | DeletedProductDocument

    @property
    def external_id(self) -> str:
        return self.doc.id


def parse_product_change(payload: Mapping[str, Any]) -> ProductChange:
    """Validate a webhook body (`{"event": ..., "doc": {...}}`); raises `ValidationError` with field errors."""
    try:
        envelope = _Envelope.model_validate(payload)
    except PydanticValidationError as exc:
        raise _invalid(exc) from None
    model = DeletedProductDocument if envelope.event is ProductEvent.DELETED else ProductDocument
    try:
        doc = model.model_validate(envelope.doc)
    except PydanticValidationError as exc:
        # Field errors are located from the body's root, as the client sent them.
        raise _invalid(exc, prefix=("doc",)) from None
    return ProductChange(event=envelope.event, doc=doc)


def _invalid(exc: PydanticValidationError, *, prefix: tuple[str, ...] = ()) -> ValidationError:
    error = ValidationError.from_pydantic(exc, "product webhook body")
    if not prefix:
        return error
    errors = [field_error([*prefix, *item["loc"]], item["msg"], item["type"]) for item in error.errors]
    return ValidationError.from_errors("product webhook body", errors)


def handle_product_changed(payload: Mapping[str, Any] | ProductChange) -> IngestionResult:
    """Mirror one CMS product event into `Product`; see `IngestionAction` for the outcomes.

    `payload` is the webhook body (a dict) or an already parsed `ProductChange`.
    Raises `ValidationError` (nothing saved) for a malformed body.
    """
    change = payload if isinstance(payload, ProductChange) else parse_product_change(payload)
    result = _apply(change)
    logger.info(
        "CMS %s for product %s: %s",
        change.event,
        change.external_id,
        result.action,
        extra={"external_id": change.external_id, "product_id": result.product_id, "action": result.action.value},
    )
    return result


def _apply(change: ProductChange) -> IngestionResult:
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(external_id=change.external_id).first()
        if product is None:
            created = _create(change)
            if created is not None:
                return created
            # Another delivery of this product committed its row while we
            # inserted; lock that row and treat this one as an update of it.
            product = Product.objects.select_for_update().get(external_id=change.external_id)
        if isinstance(change.doc, ProductDocument):
            return _update(product, change.doc)
        return _archive(product, change.doc)


def _create(change: ProductChange) -> IngestionResult | None:
    """Insert the row; None if a concurrent delivery inserted it first."""
    doc = change.doc
    if isinstance(doc, ProductDocument):
        product = Product(external_id=doc.id, **doc.mirrored_values())
        action = IngestionAction.CREATED
    else:
        # A tombstone: a late, older product.created for this id must then
        # be recognised as stale rather than resurrect the product.
        product = Product(
            external_id=doc.id,
            title=(doc.title or "").strip()[:MAX_TITLE_LENGTH],
            status=ProductStatus.ARCHIVED,
            cms_updated_at=doc.updated_at,
        )
        action = IngestionAction.ARCHIVED
    try:
        # A savepoint: the unique violation must not abort the caller's transaction.
        with transaction.atomic():
            product.save(force_insert=True)
    except IntegrityError:
        if not Product.objects.filter(external_id=doc.id).exists():
            raise
        return None
    return IngestionResult(external_id=doc.id, product_id=product.pk, action=action)


def _update(product: Product, doc: ProductDocument) -> IngestionResult:
    values = doc.mirrored_values()
    changed = [name for name, value in values.items() if getattr(product, name) != value]
    stored_at = product.cms_updated_at
    if stored_at is not None and doc.updated_at <= stored_at:
        if not changed:
            return IngestionResult(external_id=doc.id, product_id=product.pk, action=IngestionAction.UNCHANGED)
        if doc.updated_at == stored_at:
            # Same version, other content: the CMS only does that when a
            # deletion follows the last update, so the first one applied wins.
            logger.warning(
                "CMS product %s sent different content with the same updatedAt %s: ignored",
                doc.id,
                doc.updated_at.isoformat(),
                extra={"external_id": doc.id, "product_id": product.pk},
            )
        return IngestionResult(external_id=doc.id, product_id=product.pk, action=IngestionAction.STALE)
    if not changed:
        return IngestionResult(external_id=doc.id, product_id=product.pk, action=IngestionAction.UNCHANGED)
    for name in changed:
        setattr(product, name, values[name])
    product.save(update_fields=[*changed, "updated_at"])
    return IngestionResult(external_id=doc.id, product_id=product.pk, action=IngestionAction.UPDATED)


def _archive(product: Product, doc: DeletedProductDocument) -> IngestionResult:
    stored_at = product.cms_updated_at
    if doc.updated_at is not None and stored_at is not None and doc.updated_at < stored_at:
        return IngestionResult(external_id=doc.id, product_id=product.pk, action=IngestionAction.STALE)
    if product.status == ProductStatus.ARCHIVED:
        return IngestionResult(external_id=doc.id, product_id=product.pk, action=IngestionAction.UNCHANGED)
    product.status = ProductStatus.ARCHIVED
    fields = ["status", "updated_at"]
    if doc.updated_at is not None and (stored_at is None or doc.updated_at > stored_at):
        product.cms_updated_at = doc.updated_at
        fields.append("cms_updated_at")
    product.save(update_fields=fields)
    return IngestionResult(external_id=doc.id, product_id=product.pk, action=IngestionAction.ARCHIVED)
