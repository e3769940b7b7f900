"""The dashboard's workers page (placeholder until it is built)."""

from __future__ import annotations

from gifting_jobs.dashboard.base import DashboardPage


class WorkersPage(DashboardPage):
    tab = "workers"
    template_name = "gifting_jobs/dashboard/workers.html"
