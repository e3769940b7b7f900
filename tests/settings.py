"""Test settings: the host settings plus a test app with its own job types.

Redis keys live under a namespace of their own per test run, so runs never see
each other's queues; heartbeats are short so crash recovery takes seconds.
"""

import json
import os
import uuid

os.environ.setdefault("DRAMATIQ_NAMESPACE", f"gj-test-{uuid.uuid4().hex[:8]}")

from core.settings import *  # noqa: F403
from core.settings import DATABASES, DRAMATIQ_BROKER, GIFTING_JOBS, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.jobapp"]
# One test database per run, so concurrent runs on one Postgres never collide.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("DATABASE_TEST_NAME") or f"test_gifting_{os.getpid()}"}
# Connections of in-process worker threads must not outlive the test that flushes the database.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DRAMATIQ_BROKER["OPTIONS"].update(
    {
        "heartbeat_timeout": int(os.environ.get("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", "2000")),
        "maintenance_chance": int(os.environ.get("DRAMATIQ_MAINTENANCE_CHANCE", "1000000")),
    }
)
GIFTING_JOBS = {**GIFTING_JOBS, "WEBHOOK_SECRET": "test-webhook-secret", "RELAY_INTERVAL_SECONDS": 0.2}
# Worker subprocesses of a test get the test's own GIFTING_JOBS keys through this variable (JSON).
GIFTING_JOBS.update(json.loads(os.environ.get("GIFTING_TEST_SETTINGS", "{}")))
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# `@task` functions of the tests use a second queue, to check queue routing and validation.
TASKS = {
    "default": {
        "BACKEND": "gifting_jobs.tasks.backend.SpineTaskBackend",
        "QUEUES": ["default", "reports"],
    }
}
