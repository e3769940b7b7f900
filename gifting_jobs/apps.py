"""App configuration: discovers host job types, registers actors, signal handlers and system checks."""

from __future__ import annotations

from django.apps import AppConfig

#: The module of each installed app imported at start-up to declare its job types.
JOB_TYPES_MODULE = "jobs"


class GiftingJobsConfig(AppConfig):
    name = "gifting_jobs"
    verbose_name = "Gifting jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from gifting_jobs import actors, checks, signals  # noqa: F401  (registers checks and receivers)

        # Each installed app's `jobs` module declares its job types (`jobs.declare_job_type`),
        # like admin.py modules register models: then every actor is declared on the broker.
        autodiscover_modules(JOB_TYPES_MODULE)
        actors.declare_all()
        from gifting_jobs.tasks.backend import declare_task_queues

        declare_task_queues()
