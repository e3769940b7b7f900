"""`handle_product_changed`: parsing, ordering rules, tombstones and concurrent deliveries."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from gifting_jobs.exceptions import ValidationError
from gifting_jobs.models import Product, ProductStatus
from gifting_jobs.services import handle_product_changed
from gifting_jobs.services.ingestion import IngestionAction, IngestionResult, parse_product_change
from tests.conftest import wait_until
from tests.integration.ingestion.cms import FIRST_VERSION, OLDER_VERSION, SECOND_VERSION, cms_doc, event


def deleted(updated_at: str | None = None, **doc: object) -> dict[str, object]:
    body_doc = {"id": "cms-prod-1", **doc}
    if updated_at is not None:
        body_doc["updatedAt"] = updated_at
    return {"event": "product.deleted", "doc": body_doc}


# --- parsing ------------------------------------------------------------------------------------


def test_parse_product_change__accepts_cms_spellings():
    change = parse_product_change(event(id=1234, status="published", currency="eur", price=12, extraField={"x": 1}))

    assert change.external_id == "1234"
    assert change.doc.status == ProductStatus.PUBLISHED
    assert change.doc.currency == "EUR"
    assert change.doc.price == Decimal("12")


def test_parse_product_change__optional_text_fields_may_be_null():
    change = parse_product_change(event(description=None, brand=None, currency=None, price=None))

    values = change.doc.mirrored_values()
    assert (values["description"], values["brand"], values["currency"], values["price"]) == ("", "", "", None)


@pytest.mark.parametrize(
    ("overrides", "loc", "error_type"),
    [
        ({"visibleToGifter": "yes"}, ["doc", "visibleToGifter"], "bool_type"),
        ({"isFeatured": 1}, ["doc", "isFeatured"], "bool_type"),
        ({"tags": ["ok", 3]}, ["doc", "tags", 1], "string_type"),
        ({"status": "LIVE"}, ["doc", "status"], "enum"),
        ({"currency": "EURO"}, ["doc", "currency"], "string_pattern_mismatch"),
        ({"price": 19.999}, ["doc", "price"], "decimal_max_places"),
        ({"updatedAt": "2026-11-01T10:00:00"}, ["doc", "updatedAt"], "timezone_aware"),
        ({"id": True}, ["doc", "id"], "string_type"),
    ],
)
def test_parse_product_change__wrong_types_are_field_errors(overrides, loc, error_type):
    with pytest.raises(ValidationError) as caught:
        parse_product_change(event(**overrides))

    assert [(e["loc"], e["type"]) for e in caught.value.errors] == [(loc, error_type)]
    assert ".".join(map(str, loc)) in str(caught.value)


def test_parse_product_change__deleted_needs_only_an_id():
    change = parse_product_change({"event": "product.deleted", "doc": {"id": "cms-prod-1"}})

    assert change.external_id == "cms-prod-1"
    with pytest.raises(ValidationError) as caught:
        parse_product_change({"event": "product.deleted", "doc": {}})
    assert caught.value.errors == [{"loc": ["doc", "id"], "msg": "Field required", "type": "missing"}]


# --- ordering and idempotency -------------------------------------------------------------------


@pytest.mark.django_db
def test_handle_product_changed__same_time_other_content_is_stale():
    first = handle_product_changed(event())

    result = handle_product_changed(event("product.updated", title="Same second, other title"))

    assert result == IngestionResult(
        external_id="cms-prod-1", product_id=first.product_id, action=IngestionAction.STALE
    )
    assert Product.objects.get().title == "Hand-thrown ceramic mug"


@pytest.mark.django_db
def test_handle_product_changed__created_for_a_known_id_updates_it():
    first = handle_product_changed(event())

    result = handle_product_changed(event("product.created", title="Renamed", updatedAt=SECOND_VERSION))

    assert (result.product_id, result.action) == (first.product_id, IngestionAction.UPDATED)
    assert Product.objects.get().title == "Renamed"


@pytest.mark.django_db
def test_handle_product_changed__newer_timestamp_alone_updates_only_the_timestamp():
    handle_product_changed(event())
    before = Product.objects.get()

    result = handle_product_changed(event("product.updated", updatedAt=SECOND_VERSION))

    after = Product.objects.get()
    assert result.action == IngestionAction.UPDATED
    assert after.cms_updated_at > before.cms_updated_at
    assert after.text_hash() == before.text_hash()


@pytest.mark.django_db
def test_handle_product_changed__stale_delete_keeps_the_newer_mirror():
    handle_product_changed(event(updatedAt=SECOND_VERSION))

    result = handle_product_changed(deleted(OLDER_VERSION))

    assert result.action == IngestionAction.STALE
    assert Product.objects.get().status == ProductStatus.PUBLISHED


@pytest.mark.django_db
def test_handle_product_changed__delete_redelivered_is_unchanged():
    handle_product_changed(event())
    assert handle_product_changed(deleted(FIRST_VERSION)).action == IngestionAction.ARCHIVED

    assert handle_product_changed(deleted(FIRST_VERSION)).action == IngestionAction.UNCHANGED
    assert handle_product_changed(deleted()).action == IngestionAction.UNCHANGED


@pytest.mark.django_db
def test_handle_product_changed__update_at_delete_time_does_not_resurrect():
    # The CMS's delete carries the last updatedAt: a redelivered update of that version loses.
    handle_product_changed(event())
    handle_product_changed(deleted(FIRST_VERSION))

    result = handle_product_changed(event("product.updated"))

    assert result.action == IngestionAction.STALE
    assert Product.objects.get().status == ProductStatus.ARCHIVED


@pytest.mark.django_db
def test_handle_product_changed__delete_of_unknown_product_leaves_a_tombstone():
    # Given a delete that overtook the product's creation
    result = handle_product_changed(deleted(SECOND_VERSION, title="Gone mug"))

    tombstone = Product.objects.get()
    assert result == IngestionResult(external_id="cms-prod-1", product_id=tombstone.pk, action=IngestionAction.ARCHIVED)
    assert (tombstone.status, tombstone.title) == (ProductStatus.ARCHIVED, "Gone mug")

    # When the older creation arrives, it is stale; a later re-creation applies.
    assert handle_product_changed(event("product.created", updatedAt=FIRST_VERSION)).action == IngestionAction.STALE
    assert Product.objects.get().status == ProductStatus.ARCHIVED
    recreated = handle_product_changed(event("product.created", updatedAt="2026-11-02T08:00:00Z"))
    assert recreated.action == IngestionAction.UPDATED
    assert Product.objects.get().status == ProductStatus.PUBLISHED


@pytest.mark.django_db
def test_handle_product_changed__bad_input_saves_nothing():
    with pytest.raises(ValidationError):
        handle_product_changed({"event": "product.created", "doc": cms_doc(price="free")})

    assert Product.objects.count() == 0


# --- concurrent deliveries of one product -------------------------------------------------------


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    ("second", "expected_action", "expected_title"),
    [
        (event(), IngestionAction.UNCHANGED, "Hand-thrown ceramic mug"),
        (
            event("product.updated", title="Newer title", updatedAt=SECOND_VERSION),
            IngestionAction.UPDATED,
            "Newer title",
        ),
    ],
)
def test_handle_product_changed__concurrent_creates_make_one_row(
    transactional_db, second, expected_action, expected_title
):
    # Given a first delivery that inserted the row but has not committed yet
    inserted, release = threading.Event(), threading.Event()
    results: dict[str, IngestionResult] = {}
    failures: list[BaseException] = []

    def first_delivery() -> None:
        try:
            with transaction.atomic():
                results["first"] = handle_product_changed(event())
                inserted.set()
                release.wait(timeout=20)
        except BaseException as exc:  # Reported by the test below.
            failures.append(exc)
        finally:
            inserted.set()
            connection.close()

    def second_delivery() -> None:
        try:
            results["second"] = handle_product_changed(second)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_delivery)]
    threads[0].start()
    assert inserted.wait(timeout=20)

    # When a second delivery of the same product blocks on the unique index, then the first commits
    threads.append(threading.Thread(target=second_delivery))
    threads[1].start()
    wait_until(_waiting_on_a_lock, what="the second delivery waiting on the first one's row")
    release.set()
    for thread in threads:
        thread.join(timeout=20)

    # Then there is one row, and the second delivery was applied to it as an update
    assert failures == []
    assert Product.objects.count() == 1
    product = Product.objects.get()
    assert results["first"].action == IngestionAction.CREATED
    assert (results["second"].product_id, results["second"].action) == (product.pk, expected_action)
    assert product.title == expected_title
