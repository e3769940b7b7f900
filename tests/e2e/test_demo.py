"""`manage.py gifting_demo` in-process on the test database and this run's Redis namespace.

The command starts its own Dramatiq worker, so these tests use `clean_broker`
and `transactional_db` (the worker's threads must see committed rows), not
the `worker` fixture.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from gifting_jobs.demo import data
from gifting_jobs.exceptions import PermanentJobError, TransientJobError
from gifting_jobs.models import (
    CuratedCollection,
    FailedJob,
    NotificationSchedule,
    NotificationStatus,
    Product,
    ProductStatus,
    Surface,
    TasteProfile,
)
from gifting_jobs.providers.enrichment.base import Enrichment, EnrichmentProvider

#: Generous: the first job loads the local embedding model, on a shared 2-core machine.
DEMO_TIMEOUT = 120.0
#: Products the end-to-end test loads (the first ones span the taxonomy).
DEMO_PRODUCTS = 30
#: A recommendation row: rank, title, "12.34 EUR", a score with three decimals.
RECOMMENDATION_ROW = re.compile(r"^\s+[1-5]\s+.+\s\d+\.\d\d EUR\s+-?\d\.\d{3}\s", re.MULTILINE)


class RefusingEnrichmentProvider(EnrichmentProvider):
    """Every enrichment fails for good (a provider rejecting the request)."""

    name = "refusing"

    def enrich(self, text: str, *, price: Decimal | None, description: str | None = None) -> Enrichment:
        raise PermanentJobError("the enrichment provider refused the request (400)")


class UnavailableEnrichmentProvider(EnrichmentProvider):
    """Every enrichment fails transiently: the job is retried long after the demo's wait is over."""

    name = "unavailable"

    def enrich(self, text: str, *, price: Decimal | None, description: str | None = None) -> Enrichment:
        raise TransientJobError("the enrichment provider is overloaded (503)", retry_after=600)


def run_demo(**options: Any) -> str:
    out = io.StringIO()
    call_command("gifting_demo", stdout=out, **options)
    return out.getvalue()


def providers(**overrides: str) -> dict[str, Any]:
    return {**settings.GIFTING_JOBS, **overrides}


@pytest.mark.slow
def test_gifting_demo__runs_end_to_end_and_again(
    clean_broker: Any, transactional_db: None, mailoutbox: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # When the demo runs on the first 30 products
    output = run_demo(products=DEMO_PRODUCTS, timeout=DEMO_TIMEOUT)

    # Then every published, visible demo product is embedded and enriched for its current text
    products = Product.objects.filter(external_id__startswith=data.ID_PREFIX)
    assert products.count() == DEMO_PRODUCTS
    recommendable = list(products.filter(status=ProductStatus.PUBLISHED, visible_to_gifter=True))
    assert len(recommendable) == sum(p.recommendable for p in data.catalog()[:DEMO_PRODUCTS])
    for product in recommendable:
        assert product.embedding is not None and product.embedding_text_hash == product.text_hash()
        assert product.enrichment["tags"] and product.enrichment_text_hash == product.text_hash()
    assert "202 Accepted: 30 (created 30)" in output
    # and each profile got its top recommendations printed with scores
    embedded_profiles = TasteProfile.objects.filter(embedding__isnull=False, completed_at__isnull=False)
    assert embedded_profiles.count() == len(data.PROFILES)
    for profile in data.PROFILES:
        assert f"  {profile.recipient_name} (" in output
    assert len(RECOMMENDATION_ROW.findall(output)) >= len(data.PROFILES)
    # and today's collections exist for the three surfaces
    today = timezone.localdate()
    surfaces = set(CuratedCollection.objects.filter(target_date=today).values_list("surface", flat=True))
    assert surfaces == {surface.value for surface in Surface}
    # and the nearest reminder went out on both channels through the test-time backends
    sent = NotificationSchedule.objects.filter(status=NotificationStatus.SENT)
    assert sorted(sent.values_list("channel", flat=True)) == ["EMAIL", "PUSH"]
    assert [m.subject for m in mailoutbox] == [f"{data.OCCASION.name} is in 3 days"]
    assert mailoutbox[0].to == [data.DEMO_EMAIL]
    assert f"[push] to user {sent.first().user_id}: {data.OCCASION.name} is in 3 days" in capsys.readouterr().out
    assert "dead letters (FailedJob) written during this run: none" in output
    assert "states seen by get_result(): READY" in output and "SUCCESSFUL in" in output
    assert f'return value: {{"attempt": 1, "embedded": {len(recommendable)}' in output
    assert "Demo complete" in output

    # When it runs again
    again = run_demo(products=DEMO_PRODUCTS, timeout=DEMO_TIMEOUT)

    # Then the products are redeliveries, the profiles are reused and no reminder is sent twice
    assert "202 Accepted: 30 (unchanged 30)" in again
    assert Product.objects.filter(external_id__startswith=data.ID_PREFIX).count() == DEMO_PRODUCTS
    assert TasteProfile.objects.count() == len(data.PROFILES)
    assert NotificationSchedule.objects.filter(status=NotificationStatus.SENT).count() == 2
    assert len(mailoutbox) == 1
    assert "were sent by an earlier run" in again and "not sent again" in again
    assert len(RECOMMENDATION_ROW.findall(again)) >= len(data.PROFILES)
    assert "Demo complete" in again


@pytest.mark.slow
def test_gifting_demo__dead_letters_fail_the_run_and_are_reported(clean_broker: Any, transactional_db: None) -> None:
    # Given an enrichment provider that refuses every product
    provider = f"{__name__}.{RefusingEnrichmentProvider.__name__}"
    with override_settings(GIFTING_JOBS=providers(ENRICHMENT_PROVIDER=provider)):
        # When the demo runs, Then it fails naming the problem
        out = io.StringIO()
        with pytest.raises(
            CommandError, match=r"demo finished with \d problem\(s\): 3 products could not be processed"
        ):
            call_command("gifting_demo", products=3, timeout=DEMO_TIMEOUT, stdout=out)

    # and the report counts the dead letters by type and reason, with the first error
    assert re.search(
        r"product_enrichment\s+permanent\s+3\s+PermanentJobError: the enrichment provider refused", out.getvalue()
    )

    # and the dead letters are the three enrichments, while the embeddings were still made
    failed = FailedJob.objects.all()
    assert sorted(failed.values_list("job_type", flat=True)) == ["product_enrichment"] * 3
    assert {f.error_message for f in failed} == {"the enrichment provider refused the request (400)"}
    assert Product.objects.filter(embedding__isnull=False).count() == 3


@pytest.mark.slow
def test_gifting_demo__times_out_with_a_clear_message(clean_broker: Any, transactional_db: None) -> None:
    # Given enrichment that keeps failing transiently (its retry is due long after the wait)
    provider = f"{__name__}.{UnavailableEnrichmentProvider.__name__}"
    # When the demo waits at most one second per step, Then it stops with what was missing
    with override_settings(GIFTING_JOBS=providers(ENRICHMENT_PROVIDER=provider)), pytest.raises(CommandError) as caught:
        run_demo(products=2, timeout=1)

    message = str(caught.value)
    assert message.startswith("demo failed: timed out after 1 s waiting for the demo products' enrichment")
    assert "0 enriched" in message
    # and the products it loaded are kept
    assert Product.objects.filter(external_id__startswith=data.ID_PREFIX).count() == 2


@pytest.mark.django_db
def test_gifting_demo__empty_webhook_secret_is_a_clear_error() -> None:
    with (
        override_settings(GIFTING_JOBS=providers(WEBHOOK_SECRET="")),
        pytest.raises(CommandError, match=r"WEBHOOK_SECRET'\] is empty.*set GIFTING_WEBHOOK_SECRET"),
    ):
        run_demo(products=1)
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": 0}, r"--timeout must be more than 0 and at most 3600 seconds, got 0"),
        ({"timeout": -5}, r"--timeout must be more than 0"),
        ({"timeout": 3601}, r"--timeout must be more than 0 and at most 3600"),
        ({"timeout": "soon"}, r"--timeout must be a number of seconds, got 'soon'"),
        ({"timeout": "nan"}, r"--timeout must be more than 0"),
        ({"products": 0}, r"--products must be between 1 and \d+ \(the demo catalog's size\), got 0"),
        ({"products": 100_000}, r"--products must be between 1 and \d+"),
        ({"products": "many"}, r"--products must be a whole number between 1 and \d+, got 'many'"),
        ({"products": 2.5}, r"--products must be a whole number"),
    ],
)
def test_gifting_demo__bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    # Refused before anything is loaded, sent or started: no database or broker access needed.
    with pytest.raises(CommandError, match=message):
        run_demo(**options)


def test_gifting_demo__bad_options_on_the_command_line() -> None:
    with pytest.raises(CommandError, match=r"--products must be a whole number"):
        call_command("gifting_demo", "--products", "ten", stdout=io.StringIO())


def test_demo_data__catalog_fits_the_webhook_contract() -> None:
    products = data.catalog()
    docs = data.product_docs()
    assert len(products) >= 110
    assert len({p.external_id for p in products}) == len(products)
    assert {key for key in data.FEATURED | data.DRAFTS | data.HIDDEN} <= {p.key for p in products}
    assert {d["status"] for d in docs} == {"PUBLISHED", "DRAFT"}
    assert all(8 <= d["price"] <= 400 and d["currency"] == "EUR" and d["tags"] for d in docs)
    assert set(docs[0]) == {
        "id",
        "title",
        "description",
        "brand",
        "price",
        "currency",
        "status",
        "visibleToGifter",
        "isFeatured",
        "tags",
        "updatedAt",
    }
    # The first documents deal the profiles' themes a collection's worth each, so --products 30 still works.
    first = products[: len(data.LEADING_THEMES) * data.DEAL_SIZE]
    assert {p.theme for p in first} == set(data.LEADING_THEMES)
    assert all(sum(p.theme == theme for p in first) == data.DEAL_SIZE for theme in data.LEADING_THEMES)
    assert set(data.THEMES) == {p.theme for p in products}
    assert data.product_docs(5) == docs[:5]
