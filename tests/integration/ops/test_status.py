"""`collect_status()` and `manage.py jobs_status` against a known state of Redis and Postgres."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import call_command

from gifting_jobs.status import collect_status, quantile


def band_numbers(status, queue: str, band: str) -> tuple[int, int, int, int]:
    (queue_status,) = [q for q in status.queues if q.name == queue]
    (band_status,) = [b for b in queue_status.bands if b.band == band]
    return (band_status.ready, band_status.delayed, band_status.in_flight, band_status.dead)


def test_collect_status__numbers_are_exact(known_state):
    status = collect_status()

    for queue in status.queues:
        for band in queue.bands:
            expected = known_state.bands.get((queue.name, band.band), (0, 0, 0, 0))
            assert band_numbers(status, queue.name, band.band) == expected, (queue.name, band.band)
    bulk = next(q for q in status.queues if q.name == "catalog").bands[2]
    assert (bulk.queue_name, bulk.delayed_in_redis, bulk.delayed_in_workers) == ("catalog.bulk", 0, 1)
    normal = next(q for q in status.queues if q.name == "catalog").bands[1]
    assert (normal.queue_name, normal.delayed_in_redis, normal.delayed_in_workers) == ("catalog", 1, 0)

    held = {h.reason: (h.due_now, h.later) for h in status.held}
    assert held == {"outbox": (0, 0), "broker_down": (1, 0), "delayed": (0, 1), "snoozed": (0, 0)}

    failed = {(f.job_type, f.status): f.count for f in status.failed if f.count}
    assert failed == {
        ("product_embedding", "open"): 2,
        ("product_embedding", "retried"): 1,
        ("reminder_dispatch", "discarded"): 1,
    }

    durations = {d.job_type: (d.count, d.p50_ms, d.p95_ms) for d in status.durations}
    assert durations["product_embedding"] == (10, 50.0, 100.0)
    assert durations["product_enrichment"] == (1, 7.5, 7.5)
    assert durations["reminder_dispatch"] == (0, None, None)


def test_collect_status__reports_catalog_and_declared_queues(known_state):
    names = [q.name for q in collect_status().queues]

    # The catalog's queues, and the test app's declared ones ("testing", "crashing", "bench").
    assert {"catalog", "profiles", "collections", "reminders", "testing", "crashing"} <= set(names)
    assert names == sorted(names)
    assert not [n for n in names if n.endswith((".DQ", ".XQ", ".urgent", ".bulk"))]


def test_jobs_status__tables_show_the_numbers(known_state):
    out = StringIO()

    call_command("jobs_status", stdout=out)

    text = out.getvalue()
    for (queue, band), (ready, delayed, in_flight, dead) in known_state.bands.items():
        # Then the latency in seconds, and an empty state column (no queue is paused).
        line = rf"^{queue}\s+{band}\s+{ready}\s+{delayed}\s+{in_flight}\s+{dead}\s+\d+\.\d$"
        assert re.search(line, text, re.M), (queue, band)
    assert re.search(r"^broker_down\s+1\s+0$", text, re.M)
    assert re.search(r"^delayed\s+0\s+1$", text, re.M)
    assert re.search(r"^product_embedding\s+2\s+1\s+0$", text, re.M)
    assert re.search(r"^product_embedding\s+10\s+50\.0\s+100\.0$", text, re.M)
    assert re.search(r"^reminder_dispatch\s+0\s+-\s+-$", text, re.M)


def test_jobs_status__json_parses_and_matches(known_state):
    out = StringIO()

    call_command("jobs_status", "--json", stdout=out)

    data = json.loads(out.getvalue())
    catalog = next(q for q in data["queues"] if q["name"] == "catalog")
    bulk = next(b for b in catalog["bands"] if b["band"] == "bulk")
    assert bulk == {
        "band": "bulk",
        "queue_name": "catalog.bulk",
        "ready": 0,
        "delayed": 1,
        "delayed_in_redis": 0,
        "delayed_in_workers": 1,
        "in_flight": 1,
        "dead": 1,
        "latency_ms": 0,
        "oldest_ready_at": None,
    }
    assert {h["reason"]: h["total"] for h in data["held"]} == {
        "outbox": 0,
        "broker_down": 1,
        "delayed": 1,
        "snoozed": 0,
    }
    embedding = next(d for d in data["durations"] if d["job_type"] == "product_embedding")
    assert embedding == {"job_type": "product_embedding", "count": 10, "p50_ms": 50.0, "p95_ms": 100.0}


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 0.5, None), ([3.0], 0.95, 3.0), ([1.0, 2.0], 0.5, 1.0), ([1.0, 2.0, 3.0, 4.0], 0.95, 4.0)],
)
def test_quantile__nearest_rank(values, q, expected):
    assert quantile(values, q) == expected
