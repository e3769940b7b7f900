"""The mirror of the CMS gift catalog."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import TextField
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Cast

from gifting_jobs.models.vectors import embedding_field, hnsw_cosine_index

#: Keys of `Product.enrichment` read by recommendations and collections (the enrichment
#: schema's tags, occasions and recipient types).
ENRICHMENT_TAGS, ENRICHMENT_OCCASIONS, ENRICHMENT_RECIPIENTS = "tags", "occasions", "recipient_types"


#: Text search configuration of the product search vector (stemming, stop words), and of
#: the phrases searched in it: both sides must be parsed alike.
SEARCH_CONFIG = "english"
#: Weights of the product's text in its search vector: a word in the title (A) or a CMS tag (B)
#: says more about the product than one in its description (D).
SEARCH_WEIGHT_TITLE, SEARCH_WEIGHT_TAGS, SEARCH_WEIGHT_BRAND, SEARCH_WEIGHT_DESCRIPTION = "A", "B", "C", "D"


def product_search_vector() -> CombinedExpression:
    """The generated `Product.search_vector`: title, tags, brand and description, stemmed and weighted."""
    return (
        SearchVector("title", weight=SEARCH_WEIGHT_TITLE, config=SEARCH_CONFIG)
        + SearchVector(Cast("tags", TextField()), weight=SEARCH_WEIGHT_TAGS, config=SEARCH_CONFIG)
        + SearchVector("brand", weight=SEARCH_WEIGHT_BRAND, config=SEARCH_CONFIG)
        + SearchVector("description", weight=SEARCH_WEIGHT_DESCRIPTION, config=SEARCH_CONFIG)
    )


def product_title_search_vector() -> CombinedExpression:
    """The generated `Product.title_search_vector`: title and tags only, what full-text candidates are drawn by."""
    return SearchVector("title", weight=SEARCH_WEIGHT_TITLE, config=SEARCH_CONFIG) + SearchVector(
        Cast("tags", TextField()), weight=SEARCH_WEIGHT_TAGS, config=SEARCH_CONFIG
    )


def enrichment_list(enrichment: Any, key: str) -> frozenset[str]:
    """The strings stored under `key` of a product's enrichment (empty before enrichment)."""
    values = enrichment.get(key) if isinstance(enrichment, dict) else None
    return frozenset(v for v in values if isinstance(v, str)) if isinstance(values, list) else frozenset()


class ProductStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    PUBLISHED = "PUBLISHED", "Published"
    ARCHIVED = "ARCHIVED", "Archived"


class Product(models.Model):
    """A gift product mirrored from the CMS, with its enrichment and embedding."""

    external_id = models.CharField(max_length=64, unique=True, help_text="The CMS document id.")
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True, default="")
    brand = models.CharField(max_length=200, blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    status = models.CharField(max_length=16, choices=ProductStatus.choices, default=ProductStatus.DRAFT)
    visible_to_gifter = models.BooleanField(default=True)
    is_featured = models.BooleanField(default=False)
    tags = models.JSONField(default=list, blank=True, help_text="Tags set in the CMS.")
    cms_updated_at = models.DateTimeField(null=True, blank=True, help_text="The CMS's updatedAt of this mirror.")

    enrichment = models.JSONField(null=True, blank=True, help_text="LLM enrichment: tags, occasions, recipients…")
    enrichment_version = models.CharField(max_length=64, blank=True, default="", help_text="Prompt version used.")
    enrichment_text_hash = models.CharField(max_length=64, blank=True, default="")
    enriched_at = models.DateTimeField(null=True, blank=True)

    embedding = embedding_field()
    #: Full-text search over the gifter-visible text, kept by Postgres itself (GIN-indexed).
    search_vector = models.GeneratedField(
        expression=product_search_vector(), output_field=SearchVectorField(), db_persist=True
    )
    #: The title and CMS tags alone: a word there names the product, and matching it reads
    #: a few times fewer rows than matching descriptions too.
    title_search_vector = models.GeneratedField(
        expression=product_title_search_vector(), output_field=SearchVectorField(), db_persist=True
    )
    embedding_text_hash = models.CharField(max_length=64, blank=True, default="")
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    embedded_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            hnsw_cosine_index("product_embedding_hnsw"),
            GinIndex(fields=["search_vector"], name="product_search_vector_gin"),
            GinIndex(fields=["title_search_vector"], name="product_title_search_gin"),
            # A budget narrows the full-text matches by a bitmap AND before any row is read.
            models.Index(fields=["price"], name="product_price"),
            models.Index(fields=["status", "visible_to_gifter"], name="product_status_visible"),
            # A budget that keeps few products is searched by scoring all of them: this index
            # holds their vectors in price order, so that scan reads ~1 KB per product from
            # adjacent pages instead of a heap page each (index-only, once vacuumed). Its
            # entries must fit a B-tree page: see MAX_COVERED_DIMENSIONS.
            models.Index(
                fields=["price"],
                include=["id", "embedding_model", "embedding"],
                condition=models.Q(status=ProductStatus.PUBLISHED, visible_to_gifter=True, embedding__isnull=False),
                name="product_price_vector",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.external_id})"

    @property
    def is_recommendable(self) -> bool:
        return self.status == ProductStatus.PUBLISHED and self.visible_to_gifter

    def embedding_text(self) -> str:
        """The text that is embedded and enriched: what a gifter reads about the product."""
        parts = [self.title, self.brand, self.description, ", ".join(str(t) for t in self.tags or [])]
        return "\n".join(p.strip() for p in parts if p and p.strip())

    def text_hash(self) -> str:
        """SHA-256 of `embedding_text()`: a change means re-embedding and re-enrichment."""
        return hashlib.sha256(self.embedding_text().encode()).hexdigest()
