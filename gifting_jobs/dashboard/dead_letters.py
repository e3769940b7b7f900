"""The dashboard's dead letters page (placeholder until it is built)."""

from __future__ import annotations

from gifting_jobs.dashboard.base import DashboardPage


class DeadLettersPage(DashboardPage):
    tab = "dead_letters"
    template_name = "gifting_jobs/dashboard/dead_letters.html"
