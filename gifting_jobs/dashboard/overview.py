"""The dashboard's overview page (placeholder until it is built)."""

from __future__ import annotations

from gifting_jobs.dashboard.base import DashboardPage


class OverviewPage(DashboardPage):
    tab = "overview"
    template_name = "gifting_jobs/dashboard/overview.html"
