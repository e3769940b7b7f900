"""The read-only admins of the app's other models: they render, search, filter, and change nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from gifting_jobs.models import (
    CuratedCollection,
    CuratedCollectionItem,
    HeldJob,
    HeldJobReason,
    NotificationSchedule,
    Occasion,
    Product,
    ProductStatus,
    Recipient,
    TaskResultRecord,
    TasteProfile,
)

#: Models shown inside another model's page rather than on their own.
INLINE_ONLY = {CuratedCollectionItem}


def admin_urls(obj) -> tuple[str, str]:
    meta = obj._meta
    return (
        reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"),
        reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]),
    )


@pytest.fixture
def rows(admin_user: User) -> list[object]:
    mug = Product.objects.create(external_id="p-1", title="Mug <b>bold</b>", status=ProductStatus.PUBLISHED, tags=["a"])
    scarf = Product.objects.create(external_id="p-2", title="Scarf", status=ProductStatus.DRAFT)
    recipient = Recipient.objects.create(user=admin_user, name="Sam", relationship="friend")
    profile = TasteProfile.objects.create(user=admin_user, recipient=recipient, answers={"interests": ["tea"]})
    occasion = Occasion.objects.create(user=admin_user, recipient=recipient, name="Birthday", date=date(2026, 12, 24))
    schedule = NotificationSchedule.objects.create(
        user=admin_user,
        occasion=occasion,
        channel="EMAIL",
        offset_days=3,
        occasion_date=occasion.date,
        scheduled_for=timezone.now() + timedelta(days=20),
        payload={"title": "Soon", "body": "Birthday in 3 days"},
    )
    collection = CuratedCollection.objects.create(
        surface="home",
        target_date=date(2026, 12, 1),
        params_hash="x" * 64,
        position=1,
        theme="cosy",
        title="Cosy gifts",
    )
    CuratedCollectionItem.objects.create(collection=collection, product=mug, rank=1, score=0.9)
    CuratedCollectionItem.objects.create(collection=collection, product=scarf, rank=2, score=0.5)
    held = HeldJob.objects.create(
        job_id="curated-collections:home:2026-12-24:abc",
        message_id="m-1",
        job_type="curated_collections",
        queue="collections.bulk",
        message={"args": [{"surface": "home", "target_date": "2026-12-24"}]},
        lock_ttl_ms=1000,
        reason=HeldJobReason.DELAYED,
        due_at=timezone.now() + timedelta(hours=1),
    )
    task_result = TaskResultRecord.objects.create(
        id="a" * 32,
        task_path="tests.integration.tasks.tasks.echo",
        backend="default",
        queue_name="default",
        priority=0,
        job_id="django-task:" + "a" * 32,
        args=["<script>"],
        status="FAILED",
        enqueued_at=timezone.now(),
        errors=[{"exception_class_path": "builtins.ValueError", "traceback": "Traceback <b>"}],
    )
    return [mug, recipient, profile, occasion, schedule, collection, held, task_result]


def test_model_admins__every_model_is_registered():
    models = set(apps.get_app_config("gifting_jobs").get_models())

    assert models - INLINE_ONLY - set(admin.site._registry) == set()


def test_model_admins__changelists_and_pages_render_read_only(admin_client, rows):
    for obj in rows:
        changelist, change = admin_urls(obj)
        listing = admin_client.get(changelist)
        page = admin_client.get(change)

        assert listing.status_code == 200, changelist
        assert page.status_code == 200, change
        assert 'name="_save"' not in page.content.decode(), change
        assert admin_client.post(change, {"_save": "Save"}).status_code == 403, change
        assert "delete_selected" not in listing.content.decode(), changelist


def test_model_admins__product_search_and_status_filter(admin_client, rows):
    changelist = reverse("admin:gifting_jobs_product_changelist")

    published = admin_client.get(changelist, {"status__exact": "PUBLISHED"})
    searched = admin_client.get(changelist, {"q": "p-2"})

    assert [p.external_id for p in published.context["cl"].result_list] == ["p-1"]
    assert [p.external_id for p in searched.context["cl"].result_list] == ["p-2"]
    assert "By status" in published.content.decode()
    assert "Mug &lt;b&gt;bold&lt;/b&gt;" in published.content.decode()


def test_model_admins__collection_page_shows_its_ranked_items(admin_client, rows):
    collection = next(obj for obj in rows if isinstance(obj, CuratedCollection))

    page = admin_client.get(admin_urls(collection)[1]).content.decode()

    assert page.index("Mug &lt;b&gt;bold&lt;/b&gt; (p-1)") < page.index("Scarf (p-2)")
    # Two items, and no room for a new one.
    assert 'name="items-TOTAL_FORMS" value="2"' in page
    assert 'name="items-MAX_NUM_FORMS" value="0"' in page
