from django.apps import AppConfig


class JobAppConfig(AppConfig):
    """A test app declaring job types that exercise the spine, in its `jobs` module like a host project."""

    name = "tests.jobapp"
    label = "jobapp"
    default_auto_field = "django.db.models.BigAutoField"
