from django.db import models


class Execution(models.Model):
    """One run of a test job: what the tests count."""

    job_type = models.CharField(max_length=100)
    job_id = models.CharField(max_length=255)
    message_id = models.CharField(max_length=64)
    key = models.CharField(max_length=200, blank=True, default="")
    attempt = models.PositiveIntegerField(default=1)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.job_type} {self.job_id} attempt {self.attempt}"


class Effect(models.Model):
    """The side effect of a `test_effect` job: written once per key (the job checks first), like a sent reminder."""

    key = models.CharField(max_length=200, db_index=True)
    pid = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"effect {self.key} by pid {self.pid}"
