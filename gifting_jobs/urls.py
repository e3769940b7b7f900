"""URLs of the gifting_jobs app (namespace `gifting_jobs`): webhook, app API, metrics."""

from __future__ import annotations

from gifting_jobs import api, metrics, webhooks

app_name = "gifting_jobs"

urlpatterns = [*webhooks.urlpatterns, *api.urlpatterns, *metrics.urlpatterns]
