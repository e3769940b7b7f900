"""App configuration: registers actors, signal handlers and system checks."""

from __future__ import annotations

from django.apps import AppConfig


class GiftingJobsConfig(AppConfig):
    name = "gifting_jobs"
    verbose_name = "Gifting jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gifting_jobs import actors, checks, signals  # noqa: F401  (registers checks and receivers)

        actors.declare_all()
        from gifting_jobs.tasks.backend import declare_task_queues

        declare_task_queues()
