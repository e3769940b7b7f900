"""The configured instance of a provider family, built once per settings object."""

from __future__ import annotations

import threading
from collections.abc import Callable

from gifting_jobs.conf import GiftingJobsSettings, get_settings
from gifting_jobs.providers.requirements import resolve_provider_class


class ConfiguredProvider[P]:
    """Resolves a `GIFTING_JOBS` key (an alias or a dotted path) to one shared instance.

    Worker threads share the instance (its HTTP pool, its model, its recorded
    calls); it is rebuilt when the settings object changes (`override_settings`).
    """

    def __init__(
        self, setting: str, aliases: dict[str, str], build: Callable[[type[P], GiftingJobsSettings], P]
    ) -> None:
        self.setting = setting
        self.aliases = aliases
        self.build = build
        self._cache: tuple[GiftingJobsSettings, P] | None = None
        self._lock = threading.Lock()

    def get(self) -> P:
        settings = get_settings()
        with self._lock:
            if self._cache is not None and self._cache[0] is settings:
                return self._cache[1]
            provider_class = resolve_provider_class(self.setting, getattr(settings, self.setting), self.aliases)
            provider = self.build(provider_class, settings)
            self._cache = (settings, provider)
            return provider
