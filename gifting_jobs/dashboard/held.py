"""The dashboard's held page (placeholder until it is built)."""

from __future__ import annotations

from gifting_jobs.dashboard.base import DashboardPage


class HeldJobsPage(DashboardPage):
    tab = "held"
    template_name = "gifting_jobs/dashboard/held.html"
