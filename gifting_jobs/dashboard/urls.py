"""The dashboard's URLs, mounted by `DashboardAdmin.get_urls` under the admin's `gifting_jobs/dashboard/`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin import AdminSite
from django.urls import URLPattern, path

from gifting_jobs.dashboard.base import TABS, DashboardPage
from gifting_jobs.dashboard.dead_letters import DeadLettersPage, dead_letter_urls
from gifting_jobs.dashboard.held import HeldJobsPage
from gifting_jobs.dashboard.overview import OverviewPage
from gifting_jobs.dashboard.queues import PauseQueueView, QueuesPage, ResumeQueueView
from gifting_jobs.dashboard.scheduler import SchedulerPage
from gifting_jobs.dashboard.workers import WorkersPage

#: The page class of each tab.
PAGES: dict[str, type[DashboardPage]] = {
    "overview": OverviewPage,
    "queues": QueuesPage,
    "workers": WorkersPage,
    "held": HeldJobsPage,
    "dead_letters": DeadLettersPage,
    "scheduler": SchedulerPage,
}


def dashboard_urls(site: AdminSite, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> list[URLPattern]:
    """One URL per tab (overview at the root), each view wrapped by the admin's login check `wrap`."""
    urls = []
    for tab in TABS:
        view = wrap(PAGES[tab.slug].as_view(admin_site=site))
        route = "" if tab.slug == "overview" else f"{tab.slug.replace('_', '-')}/"
        urls.append(path(route, view, name=tab.url_name))
        if tab.slug == "queues":
            # POST-only actions of the Queues page: queues/pause/ and queues/resume/.
            for action, action_view in (("pause", PauseQueueView), ("resume", ResumeQueueView)):
                urls.append(
                    path(
                        f"{route}{action}/",
                        wrap(action_view.as_view(admin_site=site)),
                        name=f"{tab.url_name}_{action}",
                    )
                )
        if tab.slug == "dead_letters":
            urls.extend(dead_letter_urls(site, wrap))
        if tab.slug == "overview":
            # The admin index links a model's entry to its changelist: here, the overview.
            urls.append(path(route, view, name="gifting_jobs_dashboard_changelist"))
    return urls
