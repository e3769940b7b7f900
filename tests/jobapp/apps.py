from django.apps import AppConfig


class JobAppConfig(AppConfig):
    """A test app declaring job types that exercise the spine (tests may add their own)."""

    name = "tests.jobapp"
    label = "jobapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tests.jobapp import jobs

        jobs.register_all()
