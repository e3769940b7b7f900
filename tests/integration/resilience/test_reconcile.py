"""Issue 14.8: after Redis lost its queued jobs, the reconcile duty re-enqueues the stale catalog."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from gifting_jobs.models import Product, ProductStatus, TasteProfile
from gifting_jobs.scheduling.duties import run_duty
from gifting_jobs.services.reconcile import ReconcileResult, reconcile_stale
from tests.conftest import flush_namespace, wait_until

PRODUCTS = 3


@pytest.fixture
def test_providers():
    conf = {**settings.GIFTING_JOBS, "EMBEDDING_PROVIDER": "test", "ENRICHMENT_PROVIDER": "test"}
    with override_settings(GIFTING_JOBS=conf):
        yield


def publish(n: int) -> Product:
    return Product.objects.create(
        external_id=f"reconcile-{n}",
        title=f"Reconciled {n}",
        description="",
        price=Decimal("10.00"),
        currency="EUR",
        status=ProductStatus.PUBLISHED,
        visible_to_gifter=True,
    )


def healed() -> bool:
    published = Product.objects.filter(status=ProductStatus.PUBLISHED)
    return (
        not published.filter(embedding__isnull=True).exists() and not published.filter(enrichment_version="").exists()
    )


def test_reconcile__lost_jobs_are_enqueued_again_once_and_the_catalog_heals(
    clean_broker, start_worker, test_providers, django_user_model
):
    # Given published products and a completed profile whose jobs Redis lost (a flush)
    for n in range(PRODUCTS):
        publish(n)
    Product.objects.create(external_id="draft", title="Draft", price=Decimal("1"), currency="EUR")
    user = django_user_model.objects.create_user("reconciled")
    TasteProfile.objects.create(user=user, answers={"interests": ["tea"]}, completed_at=timezone.now())
    flush_namespace(clean_broker)

    # When reconcile runs twice, the jobs are sent once (ids deduplicate), drafts left alone
    assert reconcile_stale() == ReconcileResult(sent=2 * PRODUCTS + 1, deduplicated=0)
    assert reconcile_stale() == ReconcileResult(sent=0, deduplicated=2 * PRODUCTS + 1)

    # Then workers heal the catalog, and a later run finds nothing to do
    start_worker()
    wait_until(healed, timeout=30, what="catalog embedded and enriched")
    wait_until(lambda: TasteProfile.objects.filter(embedding__isnull=False).exists(), what="profile embedded")
    wait_until(lambda: reconcile_stale() == ReconcileResult(sent=0, deduplicated=0), what="nothing stale")


def test_reconcile__bounded_per_run(clean_broker, test_providers, transactional_db):
    for n in range(PRODUCTS):
        publish(n)
    flush_namespace(clean_broker)
    assert reconcile_stale(limit=1) == ReconcileResult(sent=2, deduplicated=0)


def test_reconcile_duty__declared_and_runs(clean_broker, test_providers, transactional_db):
    publish(0)
    flush_namespace(clean_broker)
    assert run_duty("reconcile", tick_seconds=3600) == "2 re-enqueued, 0 already pending"
