"""What every dashboard page shares: admin chrome, the tab bar, the permission check, auto refresh."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import redis
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase
from django.views.generic import TemplateView

from gifting_jobs.broker import get_broker
from gifting_jobs.models.dashboard import PAUSE_QUEUES, VIEW_DASHBOARD

logger = logging.getLogger(__name__)

#: The permission every page needs (superusers have it implicitly).
VIEW_PERMISSION = f"gifting_jobs.{VIEW_DASHBOARD}"
#: The permission pausing and resuming queues needs.
PAUSE_PERMISSION = f"gifting_jobs.{PAUSE_QUEUES}"
#: Seconds between two refreshes of a page's live part.
REFRESH_SECONDS = 5


@dataclass(frozen=True)
class Tab:
    """One page in the dashboard's tab bar; `url_name` is relative to the admin namespace."""

    slug: str
    label: str

    @property
    def url_name(self) -> str:
        return f"gifting_jobs_dashboard_{self.slug}"


#: The pages, in the order of the tab bar.
TABS = (
    Tab("overview", "Overview"),
    Tab("queues", "Queues"),
    Tab("workers", "Workers"),
    Tab("held", "Held jobs"),
    Tab("dead_letters", "Dead letters"),
    Tab("scheduler", "Scheduler"),
)


class DashboardPage(TemplateView):
    """A dashboard page: admin context and tabs; 403 without `gifting_jobs.view_dashboard`.

    Subclasses set `tab` (a slug of `TABS`) and `template_name`, and add their
    data in `live_data` (or `get_context_data` for what needs no broker). The
    part of the page inside `{% block live %}` is refetched every
    `refresh_seconds` (0: never); while the broker does not answer, the base
    template says so in its place instead of answering 500.
    """

    admin_site: ClassVar[AdminSite] = admin.site
    tab: ClassVar[str]
    refresh_seconds: ClassVar[int] = REFRESH_SECONDS

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm(VIEW_PERMISSION):
            raise PermissionDenied(f"the jobs dashboard needs the permission {VIEW_PERMISSION}")
        return super().dispatch(request, *args, **kwargs)

    def live_data(self) -> dict[str, Any]:
        """The page's figures read from Redis (and Postgres); a `redis.RedisError` is shown, not raised."""
        return {}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = self._frame_context(**kwargs)
        try:
            context.update(self.live_data())
        except redis.RedisError as exc:
            logger.warning("dashboard %s page: the broker does not answer: %s", self.tab, exc)
            context.update(broker_error=str(exc), broker_address=get_broker().address())
        return context

    def _frame_context(self, **kwargs: Any) -> dict[str, Any]:
        active = next(tab for tab in TABS if tab.slug == self.tab)
        return {
            **self.admin_site.each_context(self.request),
            **super().get_context_data(**kwargs),
            "title": f"Jobs dashboard: {active.label}",
            "tabs": TABS,
            "active_tab": active,
            "refresh_seconds": self.refresh_seconds,
            "can_pause": self.request.user.has_perm(PAUSE_PERMISSION),
        }
