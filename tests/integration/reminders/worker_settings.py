"""Settings of `rundramatiq` subprocesses in the reminder crash tests: pushes go to the test's receiver.

The test passes the receiver's URL and the sending lease through the environment.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import GIFTING_JOBS

GIFTING_JOBS = {
    **GIFTING_JOBS,
    "PUSH_BACKEND": "gifting_jobs.providers.push.http.HttpPushBackend",
    "PUSH_URL": os.environ["GIFTING_TEST_PUSH_URL"],
    "PUSH_TOKEN": os.environ.get("GIFTING_TEST_PUSH_TOKEN", ""),
    "REMINDER_SENDING_LEASE_SECONDS": int(os.environ.get("GIFTING_TEST_SENDING_LEASE_SECONDS", "2")),
    "RETRY_BACKOFF_SCALE": 0.01,
}
