"""Admin site housekeeping: no always-empty django_dramatiq "Tasks" page, no "View site" to a 404,
and a job-id column in the dead-letter list."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib import admin
from django.test import override_settings
from django.urls import NoReverseMatch, reverse
from django_dramatiq.admin import TaskAdmin
from django_dramatiq.models import Task

from gifting_jobs.admin import DJANGO_DRAMATIQ_TASKS_MIDDLEWARE, hide_unused_task_admin


def test_admin_index__has_no_django_dramatiq_tasks(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert not admin.site.is_registered(Task)
    assert b"Tasks" not in response.content
    with pytest.raises(NoReverseMatch):
        reverse("admin:django_dramatiq_task_changelist")


@pytest.fixture
def task_admin_registered():
    """django_dramatiq's Task admin registered again for the test, removed afterwards."""
    admin.site.register(Task, TaskAdmin)
    yield
    if admin.site.is_registered(Task):
        admin.site.unregister(Task)


def test_hide_unused_task_admin__unregisters_without_its_middleware(task_admin_registered):
    hide_unused_task_admin()

    assert not admin.site.is_registered(Task)


def test_hide_unused_task_admin__keeps_it_when_its_middleware_records_tasks(task_admin_registered):
    broker = {
        **settings.DRAMATIQ_BROKER,
        "MIDDLEWARE": [*settings.DRAMATIQ_BROKER["MIDDLEWARE"], DJANGO_DRAMATIQ_TASKS_MIDDLEWARE],
    }
    with override_settings(DRAMATIQ_BROKER=broker):
        hide_unused_task_admin()

    assert admin.site.is_registered(Task)


def test_admin__no_view_site_link(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert response.context["site_url"] is None
    assert b"View site" not in response.content


def test_failed_job_changelist__shows_job_id_and_type(admin_client, make_failed_job):
    failed = make_failed_job(job_id="reminder-dispatch:31337", job_type="reminder_dispatch")

    response = admin_client.get(reverse("admin:gifting_jobs_failedjob_changelist"))

    assert response.status_code == 200
    row = response.content.decode()
    assert 'class="field-job"' in row
    assert f"/admin/gifting_jobs/failedjob/{failed.pk}/change/" in row
    assert 'reminder-dispatch:31337<span class="job-type">reminder_dispatch</span>' in row
    assert "gifting_jobs/admin.css" in row
