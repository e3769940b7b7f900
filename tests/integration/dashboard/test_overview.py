"""The overview page: counts and SVG charts after a real worker ran jobs, an empty state, a broker down."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from gifting_jobs.broker import RedisBroker
from gifting_jobs.dashboard.charts import Line, line_chart, nice_step
from tests.conftest import wait_until
from tests.integration.ops.test_counters import run_three_jobs

URL = "admin:gifting_jobs_dashboard_overview"


def totals_row(body: str, span: str) -> list[int]:
    """The four counts of one row of the totals table."""
    row = re.search(rf"<th scope=\"row\">{span}</th>(.*?)</tr>", body, re.S)
    assert row, f"no totals row {span!r}"
    return [int(n) for n in re.findall(r"<td class=\"number gj-\w+\">(\d+)</td>", row.group(1))]


def test_overview__shows_the_counts_and_charts_after_jobs_ran(clean_broker, start_worker, dashboard_client):
    start_worker()
    run_three_jobs(clean_broker)
    # Recent durations (p50/p95) are flushed by the worker once a second.
    wait_until(lambda: clean_broker.recent_durations("test_record"), what="durations flushed")

    response = dashboard_client.get(reverse(URL))

    assert response.status_code == 200
    body = response.content.decode()
    # processed, failed, retried, dead-lettered: a success, a retried success and a dead letter.
    assert totals_row(body, "Last hour") == [4, 2, 1, 1]
    assert totals_row(body, "Last 24 hours") == [4, 2, 1, 1]
    assert body.count('<svg class="gj-chart"') == 2
    assert "<title>Jobs per minute, last hour</title>" in body
    assert re.search(r"<title>\d\d:\d\d: 1 dead-lettered</title>", body)
    assert "gj-overview-empty" not in body
    for job_type in ("test_record", "test_flaky", "test_permanent"):
        assert f"<td>{job_type}</td>" in body
    assert " ms</td>" in body  # p50/p95 of the recent runs


def test_overview__empty_state_reads_well(clean_broker, dashboard_client):
    body = dashboard_client.get(reverse(URL)).content.decode()

    assert "No job has finished in the last 24 hours" in body
    assert "No job type has run in the last 24 hours" in body
    assert totals_row(body, "Last hour") == [0, 0, 0, 0]
    assert body.count('<svg class="gj-chart"') == 2  # Flat charts at zero, axes and legend included.


@pytest.mark.django_db
def test_overview__a_broker_that_does_not_answer_is_said_not_a_500(dashboard_client, swap_broker, settings):
    swap_broker(RedisBroker(url="redis://127.0.0.1:1/0", namespace="gj-nowhere", socket_connect_timeout=0.2))

    response = dashboard_client.get(reverse(URL))

    assert response.status_code == 200
    assert "does not answer" in response.content.decode()


def test_overview__needs_the_view_permission(plain_staff_client):
    assert plain_staff_client.get(reverse(URL)).status_code == 403


def test_line_chart__escapes_labels_and_titles_every_point():
    svg = line_chart(
        title="<b>jobs</b>",
        x_labels=["a", "b", "<c>"],
        lines=[Line(name="processed", label="processed", colour="#000", values=(0, 3, 7))],
        ticks=[0, 1],
    )

    assert "<b>" not in svg and "&lt;b&gt;jobs&lt;/b&gt;" in svg
    assert svg.count("<circle") == 3 and "<title>&lt;c&gt;: 7 processed</title>" in svg
    assert "processed (10)" in svg  # the legend carries the span's total


def test_line_chart__labels_the_ticks_and_the_last_point_unless_it_crowds_the_last_tick():
    labels = [f"t{i}" for i in range(30)]
    line = [Line("processed", "processed", "#000", (0,) * 30)]

    spaced = line_chart(title="t", x_labels=labels, lines=line, ticks=[0, 10, 20])
    crowded = line_chart(title="t", x_labels=labels, lines=line, ticks=[9, 19, 28])

    assert {n for n in range(30) if f">t{n}</text>" in spaced} == {0, 10, 20, 29}
    assert {n for n in range(30) if f">t{n}</text>" in crowded} == {9, 19, 28}


def test_line_chart__refuses_a_line_of_the_wrong_length():
    with pytest.raises(ValueError, match="one value per point"):
        line_chart(title="t", x_labels=["a", "b"], lines=[Line("x", "x", "#000", (1,))], ticks=[])


@pytest.mark.parametrize(("raw", "step"), [(0, 1), (0.3, 1), (1.5, 2), (3, 5), (7, 10), (26, 50), (250, 500)])
def test_nice_step__rounds_up_to_1_2_or_5_times_a_power_of_ten(raw, step):
    assert nice_step(raw) == step
