"""Fixtures of the collection tests: an enriched, embedded catalog with clustered synthetic vectors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from gifting_jobs.models import Product, ProductStatus
from gifting_jobs.providers.embeddings import get_embedding_provider

DAY = date(2026, 3, 14)
#: Themes of the catalog, eight products each; even products also carry an occasion.
TAGS = ("coffee", "tea", "outdoors", "books", "music", "pets", "wellness", "gaming")
PER_TAG = 8
#: Every third product is featured.
FEATURED_EVERY = 3


def product_rows(tags: tuple[str, ...] = TAGS, *, prefix: str = "cat", seed: int = 11, **fields: Any) -> list[Product]:
    """Unsaved products: one cluster of vectors per tag, prices 10..80, PUBLISHED and visible unless `fields` say otherwise."""
    rng = np.random.default_rng(seed)
    provider = get_embedding_provider()
    centres = rng.normal(size=(len(tags), provider.dimensions))
    rows = []
    for t, tag in enumerate(tags):
        for i in range(PER_TAG):
            vector = centres[t] + 0.5 * rng.normal(size=provider.dimensions)
            occasions = ["birthday" if t % 2 else "christmas"] if i % 2 == 0 else []
            values = {
                "external_id": f"{prefix}-{tag}-{i}",
                "title": f"{tag.title()} gift {i}",
                "brand": f"Brand {i % 3}",
                "price": Decimal(10 + 10 * (i % 8)),
                "status": ProductStatus.PUBLISHED,
                "visible_to_gifter": True,
                "is_featured": i % FEATURED_EVERY == 0,
                "enrichment": {"tags": [tag], "occasions": occasions, "recipient_types": []},
                "embedding": (vector / np.linalg.norm(vector)).tolist(),
                "embedding_text_hash": "0" * 64,
                "embedding_model": provider.model_name,
                **fields,
            }
            rows.append(Product(**values))
    return rows


@pytest.fixture
def catalog(db: None) -> list[Product]:
    """64 enriched, embedded, published products in eight tag themes (saved without signals)."""
    return Product.objects.bulk_create(product_rows())
