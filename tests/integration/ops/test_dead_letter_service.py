"""The dead-letter service: fingerprints and chains on record, selections, and the bulk Retry and Discard."""

from __future__ import annotations

import importlib
import threading

import pytest
from django.apps import apps
from django.db import connection
from dramatiq.message import Message

from gifting_jobs.dead_letters import (
    DeadLetterSelection,
    InvalidSelectionError,
    NotOpenError,
    discard_matching,
    record_failure,
    retry_failed_job,
    retry_matching,
)
from gifting_jobs.fingerprint import error_fingerprint
from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus, HeldJob
from tests.integration.admin.factories import create_failed_job

NOT_FOUND = "gifting_jobs.exceptions.EntityNotFound"


def failed_message(job_id: str, *, retry_of: int | None = None) -> Message:
    options = {"job_id": job_id, "entity_id": "1", "retries": 2}
    if retry_of is not None:
        options["retry_of"] = retry_of
    return Message(
        queue_name="catalog",
        actor_name="product_embedding",
        args=({"product_id": 1, "triggered_by": "product.created", "previous_text_hash": None},),
        kwargs={},
        options=options,
    )


def open_ids() -> set[int]:
    return set(FailedJob.objects.filter(status=FailedJobStatus.OPEN).values_list("pk", flat=True))


# --- recording ------------------------------------------------------------------------------


def test_record_failure__sets_the_fingerprint_and_links_the_chain_to_its_first_dead_letter(db):
    first = record_failure(
        failed_message("product-embedding:1:none"),
        reason=FailedJobReason.PERMANENT,
        error_class=NOT_FOUND,
        error_message="product 1 not found",
    )
    FailedJob.objects.filter(pk=first.pk).update(status=FailedJobStatus.RETRIED)
    second = record_failure(
        failed_message("product-embedding:1:none", retry_of=first.pk),
        reason=FailedJobReason.PERMANENT,
        error_class=NOT_FOUND,
        error_message="product 1 not found",
    )
    FailedJob.objects.filter(pk=second.pk).update(status=FailedJobStatus.RETRIED)
    third = record_failure(
        failed_message("product-embedding:1:none", retry_of=second.pk),
        reason=FailedJobReason.PERMANENT,
        error_class=NOT_FOUND,
        error_message="product 2 not found",
    )

    assert first.fingerprint == error_fingerprint("product_embedding", NOT_FOUND, "product 1 not found")
    assert first.fingerprint == second.fingerprint == third.fingerprint
    assert (first.chain_root_id, second.chain_root_id, third.chain_root_id) == (None, first.pk, first.pk)
    assert third.retry_of_id == second.pk and third.chain_key == first.pk


def test_migration_0008__fills_fingerprints_and_chains_of_existing_rows(db):
    # Given rows written before the migration (no fingerprint, no chain root)
    root = create_failed_job(fingerprint="", error_message="product 7 not found", error_class=NOT_FOUND)
    child = create_failed_job(fingerprint="", retry_of=root, job_id=root.job_id + "x")
    grandchild = create_failed_job(fingerprint="", retry_of=child, job_id=root.job_id + "y")
    migration = importlib.import_module("gifting_jobs.migrations.0008_failedjob_fingerprint")

    # When its data step runs (in batches of 2, to cross a batch boundary)
    migration.BATCH_SIZE = 2
    try:
        migration.fill_fingerprints_and_chains(apps, None)
    finally:
        migration.BATCH_SIZE = 1000

    rows = {row.pk: row for row in FailedJob.objects.all()}
    assert rows[root.pk].fingerprint == error_fingerprint("product_embedding", NOT_FOUND, "product 7 not found")
    assert rows[child.pk].fingerprint == error_fingerprint(child.job_type, child.error_class, child.error_message)
    assert [rows[pk].chain_root_id for pk in (root.pk, child.pk, grandchild.pk)] == [None, root.pk, root.pk]


# --- selections ------------------------------------------------------------------------------


def test_selection__filters_and_search_like_the_admin(db):
    wanted = create_failed_job(entity_id="4242", error_message="provider timed out after 30 s")
    create_failed_job(entity_id="77", error_message="provider timed out after 12 s")
    create_failed_job(job_type="reminder_dispatch", queue="reminders", payload={"schedule_id": 1})
    create_failed_job(status=FailedJobStatus.DISCARDED, reason=FailedJobReason.PERMANENT)

    def ids(**params: str) -> set[int]:
        return set(DeadLetterSelection.from_params(params).queryset().values_list("pk", flat=True))

    assert ids(q="4242") == {wanted.pk}
    assert ids(q="timed 4242") == {wanted.pk}
    assert len(ids(q="out after")) == 2
    assert len(ids(job_type="reminder_dispatch")) == len(ids(queue="reminders")) == 1
    assert len(ids(status="discarded")) == len(ids(reason="permanent")) == 1
    assert ids(fingerprint=wanted.fingerprint) == ids(q="after")


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"status": "gone"}, "unknown status 'gone'; valid: discarded, open, retried"),
        ({"reason": "x"}, "unknown reason 'x'"),
        ({"job_type": "no_such_job"}, "unknown job_type 'no_such_job'"),
        ({"queue": "nowhere"}, "unknown queue 'nowhere'"),
        ({"fingerprint": "XYZ"}, "fingerprint 'XYZ' is not 16 lowercase hex characters"),
        ({"chain": "1; drop"}, "chain '1; drop' is not a dead letter id"),
        ({"q": "x" * 201}, "the search is longer than 200 characters"),
    ],
)
def test_selection__unknown_values_are_named(db, params, named):
    with pytest.raises(InvalidSelectionError, match=named.replace("(", r"\(")):
        DeadLetterSelection.from_params(params)


def test_selection__params_round_trip_and_describe(db):
    selection = DeadLetterSelection.from_params({"job_type": "product_embedding", "q": "42", "status": "open"})

    assert DeadLetterSelection.from_params(selection.params()) == selection
    assert selection.describe() == 'job type product_embedding, status open, search "42"'
    assert DeadLetterSelection().describe() == "all dead letters"


# --- bulk retry and discard ---------------------------------------------------------------------


def test_retry_matching__sends_each_in_batches_and_leaves_later_failures_and_others(
    transactional_db, clean_broker, queued
):
    matching = [create_failed_job(error_message=f"provider timed out after {n} s") for n in range(5)]
    other = create_failed_job(error_class="ValueError", error_message="bad")
    up_to_id = max(row.pk for row in FailedJob.objects.all())
    after_confirmation = create_failed_job(error_message="provider timed out after 99 s")
    selection = DeadLetterSelection(fingerprint=matching[0].fingerprint)

    result = retry_matching(selection, up_to_id=up_to_id, batch_size=2)

    assert (result.done, result.errors, result.batches) == (5, (), 3)
    assert open_ids() == {other.pk, after_confirmation.pk}
    for row in FailedJob.objects.filter(pk__in=[m.pk for m in matching]):
        assert (row.status, row.retry_job_id) == (FailedJobStatus.RETRIED, row.job_id)
        assert row.retried_at is not None and row.resolved_at is not None
    sent = queued("catalog")
    assert sorted(m.options["retry_of"] for m in sent) == sorted(m.pk for m in matching)
    assert all(m.args[0]["triggered_by"] == "retry" for m in sent)
    assert HeldJob.objects.count() == 0  # The outbox rows were sent after each batch's commit.


def test_retry_matching__twice_sends_nothing_twice(transactional_db, clean_broker, queued):
    rows = [create_failed_job() for _ in range(3)]
    up_to_id = rows[-1].pk

    first = retry_matching(DeadLetterSelection(), up_to_id=up_to_id)
    second = retry_matching(DeadLetterSelection(), up_to_id=up_to_id)

    assert (first.done, second.done) == (3, 0)
    assert len(queued("catalog")) == 3


def test_retry_matching__two_operators_at_once_send_each_job_once(transactional_db, clean_broker, queued):
    rows = [create_failed_job() for _ in range(40)]
    up_to_id = rows[-1].pk
    results = []
    start = threading.Barrier(2)

    def operator() -> None:
        start.wait()
        try:
            results.append(retry_matching(DeadLetterSelection(), up_to_id=up_to_id, batch_size=5))
        finally:
            connection.close()

    threads = [threading.Thread(target=operator) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(result.done for result in results) == 40
    sent = queued("catalog")
    assert len(sent) == 40
    assert len({m.options["retry_of"] for m in sent}) == 40
    assert not open_ids()


def test_retry_matching__a_job_that_cannot_be_enqueued_stays_open_with_the_error(
    transactional_db, clean_broker, queued
):
    good = create_failed_job()
    broken = create_failed_job(payload={"product_id": "not a number", "triggered_by": "product.created"})

    result = retry_matching(DeadLetterSelection(), up_to_id=broken.pk)

    assert result.done == 1
    (error,) = result.errors
    assert error.startswith(f"{broken.pk}: ValidationError")
    broken.refresh_from_db()
    assert broken.status == FailedJobStatus.OPEN
    assert broken.retry_error.startswith("ValidationError")
    assert FailedJob.objects.get(pk=good.pk).status == FailedJobStatus.RETRIED
    assert [m.options["retry_of"] for m in queued("catalog")] == [good.pk]


def test_discard_matching__only_open_rows_up_to_the_confirmed_id(db):
    rows = [create_failed_job() for _ in range(3)]
    retried = create_failed_job(status=FailedJobStatus.RETRIED)
    later = create_failed_job()

    result = discard_matching(DeadLetterSelection(), up_to_id=retried.pk, batch_size=2)

    assert (result.done, result.batches) == (3, 2)
    statuses = dict(FailedJob.objects.values_list("pk", "status"))
    assert [statuses[row.pk] for row in rows] == [FailedJobStatus.DISCARDED] * 3
    assert (statuses[retried.pk], statuses[later.pk]) == (FailedJobStatus.RETRIED, FailedJobStatus.OPEN)
    assert discard_matching(DeadLetterSelection(), up_to_id=retried.pk).done == 0


# --- a single retry claims its row -------------------------------------------------------------


def test_retry_failed_job__a_second_click_on_a_stale_row_sends_nothing(transactional_db, clean_broker, queued):
    row = create_failed_job()
    stale_copy = FailedJob.objects.get(pk=row.pk)

    retry_failed_job(row)
    with pytest.raises(NotOpenError, match="is retried, only open ones can be retried"):
        retry_failed_job(stale_copy)

    assert len(queued("catalog")) == 1


def test_retry_failed_job__an_enqueue_failure_reopens_the_row_with_the_error(transactional_db, clean_broker):
    row = create_failed_job(payload={"product_id": "nope", "triggered_by": "product.created"})

    with pytest.raises(ValueError):
        retry_failed_job(row)

    row.refresh_from_db()
    assert (row.status, row.retried_at, row.resolved_at) == (FailedJobStatus.OPEN, None, None)
    assert row.retry_error.startswith("ValidationError")
