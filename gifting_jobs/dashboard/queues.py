"""The dashboard's queues page (placeholder until it is built)."""

from __future__ import annotations

from gifting_jobs.dashboard.base import DashboardPage


class QueuesPage(DashboardPage):
    tab = "queues"
    template_name = "gifting_jobs/dashboard/queues.html"
