"""The work of the product jobs: embedding and enrichment, each skipped when already current.

Writes go through `Product.objects.filter(pk=...).update(...)` (or
`bulk_update`), never `save()`: the Product `post_save` signal enqueues these
very jobs, and a save here would loop. Each write is a compare-and-set on the
text: the row is locked, its text hashed again, and the result stored only if
it still describes the text that was embedded or enriched, with that text's
hash. A text changed meanwhile is retried (`TransientJobError`), so a vector
never silently describes an older text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from gifting_jobs.conf import get_settings
from gifting_jobs.exceptions import EntityNotFound, TransientJobError
from gifting_jobs.models import Product, ProductStatus
from gifting_jobs.payloads import ProductEmbeddingPayload, ProductEnrichmentPayload
from gifting_jobs.providers.embeddings import EmbeddingProvider, get_embedding_provider
from gifting_jobs.providers.enrichment import get_enrichment_provider
from gifting_jobs.work.batching import check_batch_size, process_in_batches

logger = logging.getLogger(__name__)

#: Rows written per UPDATE statement when storing a batch of vectors.
WRITE_BATCH_SIZE = 500
#: Rows read at a time while looking for stale vectors.
SCAN_CHUNK_SIZE = 2000


def products_with_vector_deferred() -> QuerySet[Product]:
    """Products with the vector column deferred and `has_embedding` annotated (vectors are big)."""
    return Product.objects.defer("embedding").annotate(
        has_embedding=ExpressionWrapper(Q(embedding__isnull=False), output_field=BooleanField())
    )


def _load(product_id: int) -> Product:
    product = products_with_vector_deferred().filter(pk=product_id).first()
    if product is None:
        raise EntityNotFound(f"product {product_id} does not exist (deleted since the job was enqueued?)")
    return product


def embedding_is_current(product: Product, provider: EmbeddingProvider) -> bool:
    """Whether the stored vector was made by this provider's model from the product's current text.

    `product` must come from `products_with_vector_deferred()` (or have its embedding loaded).
    """
    has_embedding = getattr(product, "has_embedding", None)
    if has_embedding is None:
        has_embedding = product.embedding is not None
    return (
        bool(has_embedding)
        and product.embedding_text_hash == product.text_hash()
        and product.embedding_model == provider.model_name
    )


@dataclass(frozen=True)
class _Embedded:
    product_id: int
    text_hash: str
    vector: list[float]


def embed_product(payload: ProductEmbeddingPayload) -> None:
    """Embed one product's text and store the vector, unless the stored one is current.

    Missing product: `EntityNotFound` (dead-lettered). Text changed while
    embedding: `TransientJobError`, so the retry embeds the new text.
    """
    provider = get_embedding_provider()
    product = _load(payload.product_id)
    extra = {"entity_id": str(product.pk), "embedding_model": provider.model_name}
    if embedding_is_current(product, provider):
        logger.info("product %s: embedding is current, skipped", product.pk, extra={**extra, "skipped": True})
        return
    text = product.embedding_text()
    (vector,) = provider.embed([text])
    written = _store_embeddings([_Embedded(product.pk, product.text_hash(), vector)], provider.model_name)
    if not written:
        if not Product.objects.filter(pk=product.pk).exists():
            raise EntityNotFound(f"product {product.pk} was deleted while it was being embedded")
        raise TransientJobError(f"product {product.pk}: its text changed while it was being embedded")
    logger.info(
        "product %s embedded (%d dims)", product.pk, len(vector), extra={**extra, "text_hash": product.text_hash()}
    )


def embed_products(products: Iterable[Product], *, provider: EmbeddingProvider | None = None) -> int:
    """Embed the given products (no skip check: the caller chose them) and store their vectors.

    For bulk work outside the job spine: the provider batches its requests
    itself, and transient errors are retried here with backoff
    (`embed_with_retries`). Returns how many vectors were stored; a product
    whose text changed or that was deleted meanwhile is left out, still
    stale (its own job, or the next backfill, embeds the new text).
    """
    provider = provider or get_embedding_provider()
    products = list(products)
    if not products:
        return 0
    vectors = provider.embed_with_retries([product.embedding_text() for product in products])
    embedded = [_Embedded(p.pk, p.text_hash(), vector) for p, vector in zip(products, vectors, strict=True)]
    return _store_embeddings(embedded, provider.model_name)


def embed_stale_products(
    *,
    batch_size: int,
    force: bool = False,
    dry_run: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Embed, in batches, every product whose vector is missing or stale; returns how many.

    Stale: no vector, a text changed since (hash), or a vector made by
    another model than the current provider's. Every product is considered,
    whatever its status: one published later without a text change gets no
    job, so it must already have its vector. `force` re-embeds them all;
    `dry_run` only counts; `on_batch(n)` is called after each batch (a
    progress bar). The signature is the one `backfill_embeddings` expects
    of every kind.
    """
    check_batch_size(batch_size)
    provider = get_embedding_provider()

    def stale() -> Iterator[Product]:
        # The text hash is computed here, not stored: every row is read to find edited texts.
        for product in products_with_vector_deferred().order_by("pk").iterator(chunk_size=SCAN_CHUNK_SIZE):
            if force or not embedding_is_current(product, provider):
                yield product

    return process_in_batches(
        stale(),
        batch_size=batch_size,
        handle=len if dry_run else (lambda batch: embed_products(batch, provider=provider)),
        on_batch=on_batch,
    )


def _store_embeddings(embedded: Sequence[_Embedded], model_name: str) -> int:
    """Store each vector whose product still has the text it was made from; returns how many."""
    by_id = {item.product_id: item for item in embedded}
    now = timezone.now()
    with transaction.atomic():
        # The lock makes the text check and the write one step: a concurrent text
        # change either lands before (and is seen) or waits until after the write.
        # Rows are locked in pk order, so two overlapping batches cannot deadlock.
        current = Product.objects.select_for_update().defer("embedding").filter(pk__in=by_id).order_by("pk")
        rows = []
        for product in current:
            item = by_id[product.pk]
            if product.text_hash() != item.text_hash:
                logger.info(
                    "product %s: text changed while embedding, vector not stored",
                    product.pk,
                    extra={"entity_id": str(product.pk)},
                )
                continue
            rows.append(
                Product(
                    pk=product.pk,
                    embedding=item.vector,
                    embedding_text_hash=item.text_hash,
                    embedding_model=model_name,
                    embedded_at=now,
                )
            )
        if len(rows) == 1:
            row = rows[0]
            Product.objects.filter(pk=row.pk).update(
                embedding=row.embedding,
                embedding_text_hash=row.embedding_text_hash,
                embedding_model=row.embedding_model,
                embedded_at=row.embedded_at,
            )
        elif rows:
            # bulk_update, like update(), sends no post_save: no job loop.
            Product.objects.bulk_update(
                rows,
                ["embedding", "embedding_text_hash", "embedding_model", "embedded_at"],
                batch_size=WRITE_BATCH_SIZE,
            )
    return len(rows)


def enrich_product(payload: ProductEnrichmentPayload) -> None:
    """Enrich one product and store the result, unless it is current for this prompt version and text.

    The prompt version is the payload's, else `GIFTING_JOBS["PROMPT_VERSION"]`.
    Missing product: `EntityNotFound`. Text changed while enriching: `TransientJobError`.
    """
    version = payload.prompt_version or get_settings().PROMPT_VERSION
    product = _load(payload.product_id)
    text_hash = product.text_hash()
    extra = {"entity_id": str(product.pk), "prompt_version": version}
    if product.enrichment_version == version and product.enrichment_text_hash == text_hash:
        logger.info("product %s: enrichment is current, skipped", product.pk, extra={**extra, "skipped": True})
        return
    provider = get_enrichment_provider()
    enrichment = provider.enrich(product.embedding_text(), price=product.price, description=product.description)
    with transaction.atomic():
        current = Product.objects.select_for_update().defer("embedding").filter(pk=product.pk).first()
        if current is None:
            raise EntityNotFound(f"product {product.pk} was deleted while it was being enriched")
        if current.text_hash() != text_hash:
            raise TransientJobError(f"product {product.pk}: its text changed while it was being enriched")
        Product.objects.filter(pk=product.pk).update(
            enrichment=enrichment.model_dump(mode="json"),
            enrichment_version=version,
            enrichment_text_hash=text_hash,
            enriched_at=timezone.now(),
        )
    logger.info(
        "product %s enriched by %s: %s",
        product.pk,
        provider.name,
        ", ".join(enrichment.tags),
        extra={**extra, "provider": provider.name},
    )


@dataclass(frozen=True)
class StaleProducts:
    """Recommendable products whose embedding or enrichment is not current (see `find_stale_products`)."""

    #: `(product id, hash of the text its stored vector was made from, or None)`.
    embedding: list[tuple[int, str | None]]
    enrichment: list[int]


def find_stale_products(*, limit: int) -> StaleProducts:
    """Up to `limit` recommendable products of each kind of staleness, oldest id first.

    The backfill's test (`embedding_is_current`) and the enrichment job's
    (prompt version and text hash), on the products the Product signal
    processes: PUBLISHED and visible. What the reconcile duty re-enqueues when
    Redis lost queued jobs.
    """
    check_batch_size(limit)
    provider = get_embedding_provider()
    version = get_settings().PROMPT_VERSION
    embedding: list[tuple[int, str | None]] = []
    enrichment: list[int] = []
    rows = products_with_vector_deferred().filter(Q(status=ProductStatus.PUBLISHED, visible_to_gifter=True))
    for product in rows.order_by("pk").iterator(chunk_size=SCAN_CHUNK_SIZE):
        if len(embedding) < limit and not embedding_is_current(product, provider):
            embedding.append((product.pk, product.embedding_text_hash or None))
        if len(enrichment) < limit and not (
            product.enrichment_version == version and product.enrichment_text_hash == product.text_hash()
        ):
            enrichment.append(product.pk)
        if len(embedding) >= limit and len(enrichment) >= limit:
            break
    return StaleProducts(embedding=embedding, enrichment=enrichment)
