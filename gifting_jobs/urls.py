"""URLs of the gifting_jobs app (namespace `gifting_jobs`): webhook, app API, metrics.

Include them all with `include("gifting_jobs.urls")`, or only some with
`include(gifting_jobs.urls.parts("webhook", "metrics"))`: one include keeps one
`gifting_jobs` namespace, so `reverse("gifting_jobs:...")` works either way.
"""

from __future__ import annotations

import difflib

from django.urls import URLPattern

from gifting_jobs import api, metrics, webhooks
from gifting_jobs.exceptions import ConfigurationError

app_name = "gifting_jobs"

#: The URL groups a host project can include, by name (room for more, e.g. a dashboard).
PARTS: dict[str, list[URLPattern]] = {
    "webhook": webhooks.urlpatterns,
    "api": api.urlpatterns,
    "metrics": metrics.urlpatterns,
}

urlpatterns = [pattern for patterns in PARTS.values() for pattern in patterns]


def parts(*names: str) -> tuple[list[URLPattern], str]:
    """The URL groups named (`"webhook"`, `"api"`, `"metrics"`), for `include()`, in the app's namespace."""
    selected: list[URLPattern] = []
    for name in names:
        if name not in PARTS:
            guess = difflib.get_close_matches(name, list(PARTS), n=1)
            hint = f"did you mean {guess[0]!r}?" if guess else f"known parts: {', '.join(PARTS)}"
            raise ConfigurationError(f"gifting_jobs.urls.parts: unknown part {name!r}, {hint}")
        selected.extend(PARTS[name])
    return selected, app_name
