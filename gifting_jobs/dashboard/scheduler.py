"""The dashboard's scheduler page (placeholder until it is built)."""

from __future__ import annotations

from gifting_jobs.dashboard.base import DashboardPage


class SchedulerPage(DashboardPage):
    tab = "scheduler"
    template_name = "gifting_jobs/dashboard/scheduler.html"
