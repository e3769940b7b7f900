"""Service functions, one submodule per domain; all importable from here.

Names resolve lazily so that importing one service does not import every
domain (and so that `gifting_jobs.services` can be imported before the app
registry is ready).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "handle_product_changed": "gifting_jobs.services.ingestion",
    "complete_taste_profile": "gifting_jobs.services.profiles",
    "get_recommendations": "gifting_jobs.services.recommendations",
    "generate_daily_collections": "gifting_jobs.services.collections",
    "regenerate_collections": "gifting_jobs.services.collections",
    "schedule_reminders_for_occasion": "gifting_jobs.services.reminders",
    "process_overdue_reminders": "gifting_jobs.services.reminders",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gifting_jobs.services' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
