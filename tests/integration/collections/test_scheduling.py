"""Daily scheduling, manual regeneration and the `schedule_daily_collections` command."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from gifting_jobs.broker import get_broker
from gifting_jobs.dispatch import JobOutcome
from gifting_jobs.models import CuratedCollection
from gifting_jobs.services import generate_daily_collections, regenerate_collections
from tests.conftest import wait_until
from tests.integration.collections.conftest import DAY


def pending_job_ids(jobs) -> set[str]:
    """Job ids of the captured collections jobs (`gifting_jobs.testing`)."""
    return {job.id for job in jobs.enqueued_jobs("curated_collections")}


def test_generate_daily_collections__builds_the_three_surfaces_with_a_worker(catalog, worker):
    jobs = generate_daily_collections(DAY)

    assert [j.payload.surface for j in jobs] == ["home", "discovery", "occasion"]
    assert all(j.payload.triggered_by == "scheduler" for j in jobs)
    wait_until(
        lambda: set(CuratedCollection.objects.values_list("surface", flat=True)) == {"home", "discovery", "occasion"},
        what="collections of the three surfaces",
    )
    wait_until(lambda: CuratedCollection.objects.count() == 18, what="six collections per surface")
    by_surface = {c.surface: c.job_id for c in CuratedCollection.objects.all()}
    assert by_surface == {j.payload.surface: j.id for j in jobs}

    # A second run for the same day, once the first is done, replaces: still six per surface.
    # Done means acknowledged: the ack frees a job's id just after its rows are written.
    broker = get_broker()
    wait_until(lambda: not any(broker.job_pending(j.id) for j in jobs), what="the first run's ids freed")
    for job in generate_daily_collections(DAY):
        assert job.outcome is JobOutcome.SENT
    wait_until(
        lambda: (
            CuratedCollection.objects.exclude(job_id__in=[j.id for j in jobs]).count() == 0
            and CuratedCollection.objects.count() == 18
        ),
        what="the rebuild",
    )


def test_generate_daily_collections__a_double_tick_is_deduplicated(jobs, transactional_db):
    first = generate_daily_collections(DAY)
    second = generate_daily_collections(DAY)

    assert all(j.outcome is JobOutcome.SENT for j in first)
    assert all(j.deduplicated for j in second)
    assert pending_job_ids(jobs) == {j.id for j in first}


def test_regenerate_collections__other_parameters_are_not_swallowed_by_the_daily_job(jobs, transactional_db):
    [daily_home, *_] = generate_daily_collections(DAY)

    same = regenerate_collections("home", DAY)
    other = regenerate_collections("home", DAY, collections_count=3, filters={"is_featured": True})
    forced = regenerate_collections("home", DAY, job_id="curated-collections:manual:1")

    assert same.deduplicated and same.id == daily_home.id
    assert other.outcome is JobOutcome.SENT and other.id != daily_home.id
    assert other.payload.triggered_by == "manual"
    assert forced.outcome is JobOutcome.SENT and forced.id == "curated-collections:manual:1"
    assert {daily_home.id, other.id, forced.id} <= pending_job_ids(jobs)


def test_regenerate_collections__unknown_surface_is_a_validation_error(db):
    from gifting_jobs.exceptions import ValidationError

    with pytest.raises(ValidationError, match="surface"):
        regenerate_collections("sidebar", DAY)


def test_schedule_daily_collections__command_prints_the_jobs(jobs, transactional_db):
    out = io.StringIO()

    call_command("schedule_daily_collections", "--date", "2026-03-14", stdout=out)

    lines = out.getvalue().splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["home", "2026-03-14", "sent"],
        ["discovery", "2026-03-14", "sent"],
        ["occasion", "2026-03-14", "sent"],
    ]
    assert {line.split("\t")[3] for line in lines} == pending_job_ids(jobs)


def test_schedule_daily_collections__defaults_to_today(jobs, transactional_db):
    from django.utils import timezone

    out = io.StringIO()
    call_command("schedule_daily_collections", stdout=out)

    assert all(f"\t{timezone.localdate().isoformat()}\t" in line for line in out.getvalue().splitlines())


@pytest.mark.parametrize("value", ["14/03/2026", "2026-02-30", "tomorrow", "20260314"])
def test_schedule_daily_collections__bad_date_is_a_command_error(value, db):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("schedule_daily_collections", "--date", value)
