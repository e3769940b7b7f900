"""The jobs dashboard has no rows; this table-less model carries its permissions and admin entry."""

from __future__ import annotations

from django.db import models

#: Who may open the dashboard pages (staff with this permission, or superusers).
VIEW_DASHBOARD = "view_dashboard"
#: Who may pause and resume queues from the dashboard.
PAUSE_QUEUES = "pause_queues"


class Dashboard(models.Model):
    """No table (`managed = False`): the permissions `gifting_jobs.view_dashboard` and `pause_queues`."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            (VIEW_DASHBOARD, "Can view the jobs dashboard"),
            (PAUSE_QUEUES, "Can pause and resume job queues"),
        ]
        verbose_name = "jobs dashboard"
        verbose_name_plural = "jobs dashboard"

    def __str__(self) -> str:
        return "jobs dashboard"
