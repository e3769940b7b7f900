"""The Workers page: every live worker process with host, pid, busy threads, queues, beats and running jobs."""

from __future__ import annotations

import os
import re
import socket

from django.urls import reverse

from gifting_jobs.broker.inspection import live_workers
from gifting_jobs.dispatch import enqueue
from tests.conftest import wait_until
from tests.jobapp.jobs import release_key

PAGE = "admin:gifting_jobs_dashboard_workers"


def test_workers_page__no_worker_says_how_to_start_one(clean_broker, dashboard_client):
    html = dashboard_client.get(reverse(PAGE)).content.decode()
    assert "No worker is running" in html and "rundramatiq" in html


def test_workers_page__a_worker_and_the_job_it_runs(clean_broker, start_worker, dashboard_client):
    start_worker(threads=2)
    job = enqueue("test_blocking", {"key": "on-page", "triggered_by": "manual"}, {})
    wait_until(lambda: [w for w in live_workers(clean_broker) if w.busy], what="the running job registered")

    html = dashboard_client.get(reverse(PAGE)).content.decode()

    row = re.search(r'<tr class="worker".*?</tr>', html, re.S).group(0)
    assert f'data-pid="{os.getpid()}"' in row
    assert f'<td class="host">{socket.gethostname()}</td>' in row
    assert '<td class="number busy">1 of 2</td>' in row
    assert re.search(r"<span class=\"worker-queue\">testing</span>", row)
    assert f'data-job-id="{job.id}"' in row and "test_blocking" in row
    assert re.search(r'class="job-running-for">(\d+ ms|\d+ s)<', row)
    assert re.search(r'class="beat"[^>]*>(\d+ ms|\d+ s) ago<', row)
    assert "1 worker process live." in html

    clean_broker.client.set(release_key("on-page"), "1")
    wait_until(lambda: not live_workers(clean_broker)[0].busy, what="the job finished")
    html = dashboard_client.get(reverse(PAGE)).content.decode()
    assert '<td class="number busy">0 of 2</td>' in html and job.id not in html


def test_workers_page__a_paused_queue_is_marked_on_the_worker(clean_broker, start_worker, dashboard_client):
    start_worker()
    clean_broker.pause_queue("testing")
    try:
        wait_until(
            lambda: any("testing" in worker.paused for worker in live_workers(clean_broker)),
            what="the worker obeys the pause",
        )
        html = dashboard_client.get(reverse(PAGE)).content.decode()
        assert re.search(r'class="worker-queue worker-queue-paused" title="paused: not fetched">testing<', html)
    finally:
        clean_broker.resume_queue("testing")
