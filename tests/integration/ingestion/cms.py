"""Test data of the CMS: product documents and webhook bodies, camelCase as the CMS sends them."""

from __future__ import annotations

from typing import Any

#: The CMS's updatedAt of the first version of a test document, and of later ones.
FIRST_VERSION = "2026-11-01T10:00:00.000Z"
SECOND_VERSION = "2026-11-01T11:30:00.000Z"
OLDER_VERSION = "2026-11-01T09:00:00.000Z"


def cms_doc(**overrides: Any) -> dict[str, Any]:
    """A complete CMS product document, with the extra fields a real CMS sends too."""
    doc: dict[str, Any] = {
        "id": "cms-prod-1",
        "title": "Hand-thrown ceramic mug",
        "description": "A speckled stoneware mug, glazed by hand.",
        "brand": "Clayworks",
        "price": "24.50",
        "currency": "EUR",
        "status": "PUBLISHED",
        "visibleToGifter": True,
        "isFeatured": False,
        "tags": ["kitchen", "handmade"],
        "updatedAt": FIRST_VERSION,
        "createdAt": "2026-10-30T09:00:00.000Z",
        "_status": "published",
    }
    doc.update(overrides)
    return doc


def event(name: str = "product.created", **doc_overrides: Any) -> dict[str, Any]:
    """A webhook body: the event name and its document."""
    return {"event": name, "doc": cms_doc(**doc_overrides)}
