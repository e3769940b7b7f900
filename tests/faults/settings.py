"""Settings of the fault suite's processes: the SHIPPED defaults, not the test suite's short ones.

`tests.settings` shortens the heartbeat (2 s), forces maintenance on every
fetch and speeds the relay up; the faults run on what production gets
(60 s heartbeat, maintenance chance 1000 per million, relay every 1 s) unless
a scenario names a setting through the environment (and the table says so).
"""

import os

from core.settings import GIFTING_JOBS as SHIPPED_GIFTING_JOBS
from tests.settings import *  # noqa: F403  (first: it sets this run's Redis namespace)
from tests.settings import DRAMATIQ_BROKER

#: Dramatiq's (and the shipped settings') defaults.
SHIPPED_HEARTBEAT_TIMEOUT_MS = 60_000
SHIPPED_MAINTENANCE_CHANCE = 1000

DRAMATIQ_BROKER["OPTIONS"].update(
    {
        "heartbeat_timeout": int(os.environ.get("FAULTS_HEARTBEAT_TIMEOUT_MS", SHIPPED_HEARTBEAT_TIMEOUT_MS)),
        "maintenance_chance": SHIPPED_MAINTENANCE_CHANCE,
    }
)
GIFTING_JOBS = {
    **SHIPPED_GIFTING_JOBS,
    "WEBHOOK_SECRET": "test-webhook-secret",
    "RECONCILE_SECONDS": int(os.environ.get("FAULTS_RECONCILE_SECONDS", SHIPPED_GIFTING_JOBS["RECONCILE_SECONDS"])),
}
