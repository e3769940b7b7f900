"""Django admin: dead letters (inspect, retry, discard) and read-only views of the app's rows.

Retry and Discard are admin actions on the changelist and on each dead
letter's page (Django's change-form actions); both need the permission
`gifting_jobs.retry_failedjob` and call the dead-letter service, the same code
as `manage.py retry_failed_jobs`. Every other model is shown read-only: the
catalog mirrors the CMS and the rest is written by jobs.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Max, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from gifting_jobs.dashboard.base import VIEW_PERMISSION
from gifting_jobs.dashboard.dead_letters import RETRY_PERMISSION
from gifting_jobs.dashboard.urls import dashboard_urls
from gifting_jobs.dead_letters import discard_failed_jobs, retry_failed_jobs
from gifting_jobs.exceptions import GiftingJobsError
from gifting_jobs.fingerprint import mask_message
from gifting_jobs.models import (
    CuratedCollection,
    CuratedCollectionItem,
    Dashboard,
    FailedJob,
    HeldJob,
    NotificationSchedule,
    Occasion,
    Product,
    Recipient,
    TaskResultRecord,
    TasteProfile,
)
from gifting_jobs.models.reminders import NotificationPreference

if TYPE_CHECKING:
    # django-stubs makes the admin classes generic in their models; Django's cannot be subscripted at runtime.
    _ModelAdmin = admin.ModelAdmin[Any]
    _CollectionItemInline = admin.TabularInline[CuratedCollectionItem, CuratedCollection]
else:
    _ModelAdmin = admin.ModelAdmin
    _CollectionItemInline = admin.TabularInline

logger = logging.getLogger(__name__)

#: Characters of an error message shown in the changelist.
ERROR_PREVIEW_LENGTH = 80
#: django_dramatiq's middleware that fills its Task table; without it the "Tasks" admin is always empty.
DJANGO_DRAMATIQ_TASKS_MIDDLEWARE = "django_dramatiq.middleware.AdminMiddleware"
#: Layout rules of the app's admin pages (column widths, wrapping of long ids).
ADMIN_CSS = "gifting_jobs/admin.css"
#: Date and time in changelists: sortable at a glance, and narrow.
COMPACT_DATE_FORMAT, COMPACT_TIME_FORMAT = "%Y-%m-%d", "%H:%M:%S"
#: Actions offered on the changelist and on a single dead letter's page.
BOTH_LOCATIONS = [admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM]


def _pretty_json(value: Any) -> SafeString:
    """JSON indented inside an escaped `<pre>`."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, default=str))


def _failed_job_url(pk: int) -> str:
    return reverse("admin:gifting_jobs_failedjob_change", args=[pk])


class ReadOnlyAdmin(_ModelAdmin):
    """Viewable, never added, changed or deleted through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Dashboard)
class DashboardAdmin(_ModelAdmin):
    """The admin's "Jobs dashboard" entry: its pages (`gifting_jobs.dashboard`) instead of a changelist."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VIEW_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return dashboard_urls(self.admin_site, self.admin_site.admin_view)


class FingerprintFilter(admin.SimpleListFilter):
    """ "By error group": the most recent groups of equal failures (`FailedJob.fingerprint`).

    The dashboard's dead letters page links each group here as `?fingerprint=<hash>`;
    any valid hash filters, listed or not.
    """

    title = "error group"
    parameter_name = "fingerprint"
    #: Groups offered in the sidebar (the most recently failed).
    LISTED = 10

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        groups = (
            FailedJob.objects.exclude(fingerprint="")
            .values("fingerprint")
            .annotate(last=Max("last_failed_at"), sample=Max("id"))
            .order_by("-last")[: self.LISTED]
        )
        samples = FailedJob.objects.in_bulk([group["sample"] for group in groups])
        lookups = []
        for group in groups:
            sample = samples[group["sample"]]
            label = f"{sample.error_class.rsplit('.', 1)[-1]}: {mask_message(sample.error_message)}"
            lookups.append((group["fingerprint"], Truncator(label).chars(ERROR_PREVIEW_LENGTH)))
        selected = self.value()
        if selected and selected not in {value for value, _ in lookups}:
            lookups.append((selected, selected))
        return lookups

    def queryset(self, request: HttpRequest, queryset: QuerySet[FailedJob]) -> QuerySet[FailedJob]:
        value = self.value()
        return queryset.filter(fingerprint=value) if value else queryset


@admin.register(FailedJob)
class FailedJobAdmin(ReadOnlyAdmin):
    """Dead letters: what failed, why, with what; retried or discarded by permitted staff."""

    # Fits 1400 px with Django's nav and filter sidebars open: the job type sits under the job id
    # (the entity id is part of every built-in job id, and searchable), ids break anywhere, and
    # the date is compact (admin.css).
    list_display = (
        "job",
        "reason",
        "error_class_short",
        "attempts",
        "status",
        "last_failed",
    )
    list_display_links = ("job",)
    list_filter = ("job_type", "status", "reason", "queue", FingerprintFilter, "last_failed_at")
    search_fields = ("entity_id", "job_id", "error_message", "error_class", "=fingerprint")
    date_hierarchy = "last_failed_at"
    actions = ["retry_selected", "discard_selected"]
    fieldsets = (
        (None, {"fields": ("job_type", "job_id", "entity_id", "status", "queue", "message_id")}),
        (
            "Failure",
            {
                "fields": (
                    "reason",
                    "error_class",
                    "error_message",
                    "fingerprint",
                    "traceback_display",
                    "attempts",
                    "first_failed_at",
                    "last_failed_at",
                )
            },
        ),
        ("Job", {"fields": ("payload_display", "options_display")}),
        (
            "Retries",
            {
                "fields": (
                    "retried_at",
                    "retry_job_id",
                    "retry_error",
                    "resolved_at",
                    "retry_of_link",
                    "later_failures_links",
                    "chain_link",
                )
            },
        ),
    )
    # Every field shown is read-only: a dead letter is changed only by Retry and Discard.
    readonly_fields = tuple(str(name) for _, section in fieldsets for name in section["fields"])

    class Media:
        css = {"all": [ADMIN_CSS]}

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)

    @admin.display(description="job id / type", ordering="job_id")
    def job(self, obj: FailedJob) -> SafeString:
        return format_html('{}<span class="job-type">{}</span>', obj.job_id, obj.job_type)

    @admin.display(description="last failed at", ordering="last_failed_at")
    def last_failed(self, obj: FailedJob) -> SafeString:
        # Date and time wrap onto two lines when the column is narrow, never inside either.
        local = timezone.localtime(obj.last_failed_at)
        return format_html(
            '<span class="nowrap">{}</span> <span class="nowrap">{}</span>',
            f"{local:{COMPACT_DATE_FORMAT}}",
            f"{local:{COMPACT_TIME_FORMAT}}",
        )

    @admin.display(description="error", ordering="error_class")
    def error_class_short(self, obj: FailedJob) -> str:
        name = obj.error_class.rsplit(".", 1)[-1]
        message = obj.error_message.splitlines()[0] if obj.error_message else ""
        if len(message) > ERROR_PREVIEW_LENGTH:
            message = message[: ERROR_PREVIEW_LENGTH - 1] + "…"
        return f"{name}: {message}" if message else name

    @admin.display(description="traceback")
    def traceback_display(self, obj: FailedJob) -> SafeString | str:
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else "-"

    @admin.display(description="payload")
    def payload_display(self, obj: FailedJob) -> SafeString:
        return _pretty_json(obj.payload)

    @admin.display(description="options")
    def options_display(self, obj: FailedJob) -> SafeString:
        return _pretty_json(obj.options)

    @admin.display(description="retry of")
    def retry_of_link(self, obj: FailedJob) -> SafeString | str:
        if obj.retry_of_id is None:
            return "-"
        return format_html(
            '<a href="{}">dead letter {}</a> (this failure came from its retry)',
            _failed_job_url(obj.retry_of_id),
            obj.retry_of_id,
        )

    @admin.display(description="later failures")
    def later_failures_links(self, obj: FailedJob) -> SafeString | str:
        later = list(obj.later_failures.order_by("id").values_list("id", "status", "last_failed_at"))
        if not later:
            return "-"
        items = format_html_join(
            "",
            '<li><a href="{}">dead letter {}</a> ({}, failed {})</li>',
            ((_failed_job_url(pk), pk, status, f"{failed_at:%Y-%m-%d %H:%M:%S}") for pk, status, failed_at in later),
        )
        return format_html('<ul class="later-failures">{}</ul>', items)

    @admin.display(description="history")
    def chain_link(self, obj: FailedJob) -> SafeString | str:
        if obj.chain_root_id is None and not obj.chain_members.exists():
            return "-"
        url = reverse("admin:gifting_jobs_dashboard_dead_letters_chain", args=[obj.chain_key])
        return format_html('<a href="{}">the whole retry chain, in order</a>', url)

    @admin.action(description="Retry selected failed jobs", permissions=["retry"], location=BOTH_LOCATIONS)
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[FailedJob]) -> None:
        selected = list(queryset.order_by("id"))
        retried = deduplicated = 0
        errors: list[str] = []
        for failed_job in selected:
            try:
                results = retry_failed_jobs([failed_job])
            except GiftingJobsError as exc:
                logger.error(
                    "admin retry of dead letter %s failed: %s",
                    failed_job.pk,
                    exc,
                    exc_info=True,
                    extra={
                        "job_id": failed_job.job_id,
                        "job_type": failed_job.job_type,
                        "entity_id": failed_job.entity_id,
                    },
                )
                errors.append(f"{failed_job.pk}: {exc}")
                continue
            retried += len(results)
            deduplicated += sum(result.job.deduplicated for result in results)
        skipped = len(selected) - retried - len(errors)
        self.message_user(
            request,
            f"Retried {retried} failed job(s): {retried - deduplicated} sent, {deduplicated} deduplicated "
            f"(an equal job was already pending); {skipped} skipped because not open.",
            messages.SUCCESS if retried else messages.WARNING,
        )
        if errors:
            self.message_user(request, f"Could not retry {len(errors)}: " + "; ".join(errors), messages.ERROR)

    @admin.action(description="Discard selected failed jobs", permissions=["retry"], location=BOTH_LOCATIONS)
    def discard_selected(self, request: HttpRequest, queryset: QuerySet[FailedJob]) -> None:
        selected = list(queryset)
        discarded = discard_failed_jobs(selected)
        self.message_user(
            request,
            f"Discarded {discarded} failed job(s); {len(selected) - discarded} skipped because not open.",
            messages.SUCCESS if discarded else messages.WARNING,
        )


@admin.register(HeldJob)
class HeldJobAdmin(ReadOnlyAdmin):
    """Jobs waiting in Postgres (outbox, broker down, long delay) until the relay sends them."""

    list_display = ("job_type", "job_id", "queue", "reason", "due_at", "relay_attempts", "created_at")
    list_filter = ("reason", "job_type", "queue")
    search_fields = ("job_id", "message_id")
    fields = (
        "job_type",
        "job_id",
        "message_id",
        "queue",
        "reason",
        "due_at",
        "created_at",
        "relay_attempts",
        "last_error",
        "lock_ttl_ms",
        "message_display",
    )
    readonly_fields = fields

    @admin.display(description="message")
    def message_display(self, obj: HeldJob) -> SafeString:
        return _pretty_json(obj.message)


@admin.register(TaskResultRecord)
class TaskResultRecordAdmin(ReadOnlyAdmin):
    """Results of `django.tasks` tasks run on the spine; a failed one is retried from its dead letter."""

    list_display = ("task_path", "id", "status", "queue_name", "priority", "enqueued_at", "finished_at")
    list_filter = ("status", "queue_name", "backend")
    search_fields = ("id", "task_path", "job_id", "idempotency_key")
    fields = (
        "id",
        "task_path",
        "status",
        "backend",
        "queue_name",
        "priority",
        "run_after",
        "idempotency_key",
        "job_id",
        "enqueued_at",
        "started_at",
        "last_attempted_at",
        "finished_at",
        "worker_ids",
        "args_display",
        "kwargs_display",
        "return_value_display",
        "errors_display",
    )
    readonly_fields = fields

    @admin.display(description="args")
    def args_display(self, obj: TaskResultRecord) -> SafeString:
        return _pretty_json(obj.args)

    @admin.display(description="kwargs")
    def kwargs_display(self, obj: TaskResultRecord) -> SafeString:
        return _pretty_json(obj.kwargs)

    @admin.display(description="return value")
    def return_value_display(self, obj: TaskResultRecord) -> SafeString:
        return _pretty_json(obj.return_value)

    @admin.display(description="errors")
    def errors_display(self, obj: TaskResultRecord) -> SafeString:
        return _pretty_json(obj.errors)


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    """The CMS mirror; edits belong in the CMS (the next webhook would overwrite them)."""

    list_display = (
        "external_id",
        "title",
        "brand",
        "price",
        "currency",
        "status",
        "visible_to_gifter",
        "is_featured",
        "is_embedded",
        "enrichment_version",
        "cms_updated_at",
    )
    list_filter = ("status", "visible_to_gifter", "is_featured", "embedding_model", "enrichment_version")
    search_fields = ("external_id", "title", "brand")
    fields = (
        "external_id",
        "title",
        "brand",
        "description",
        "price",
        "currency",
        "status",
        "visible_to_gifter",
        "is_featured",
        "tags",
        "cms_updated_at",
        "enrichment_display",
        "enrichment_version",
        "enriched_at",
        "embedding_summary",
        "embedding_text_hash",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="embedded", boolean=True)
    def is_embedded(self, obj: Product) -> bool:
        return obj.embedding is not None

    @admin.display(description="embedding")
    def embedding_summary(self, obj: Product) -> str:
        if obj.embedding is None:
            return "-"
        return f"{len(obj.embedding)} dimensions, model {obj.embedding_model or '?'}, at {obj.embedded_at}"

    @admin.display(description="enrichment")
    def enrichment_display(self, obj: Product) -> SafeString | str:
        return _pretty_json(obj.enrichment) if obj.enrichment is not None else "-"


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdmin):
    list_display = ("name", "user", "relationship", "age_range", "created_at")
    search_fields = ("name", "user__username", "user__email")
    list_select_related = ("user",)


@admin.register(TasteProfile)
class TasteProfileAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "recipient", "completed_at", "embedding_model", "embedded_at")
    list_filter = ("embedding_model",)
    search_fields = ("user__username", "user__email", "recipient__name")
    list_select_related = ("user", "recipient")
    fields = (
        "user",
        "recipient",
        "answers_display",
        "facets_display",
        "completed_at",
        "embedding_model",
        "embedding_text_hash",
        "embedded_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="answers")
    def answers_display(self, obj: TasteProfile) -> SafeString:
        return _pretty_json(obj.answers)

    @admin.display(description="facets")
    def facets_display(self, obj: TasteProfile) -> SafeString:
        return _pretty_json(obj.facets)


@admin.register(Occasion)
class OccasionAdmin(ReadOnlyAdmin):
    list_display = ("name", "date", "user", "recipient")
    list_filter = ("date",)
    search_fields = ("name", "user__username", "user__email")
    list_select_related = ("user", "recipient")


@admin.register(NotificationSchedule)
class NotificationScheduleAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "occasion",
        "channel",
        "offset_days",
        "scheduled_for",
        "status",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", "channel", "scheduled_for")
    search_fields = ("user__username", "user__email", "occasion__name", "provider_message_id")
    list_select_related = ("user", "occasion")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("user", "channels", "email", "timezone", "updated_at")
    search_fields = ("user__username", "user__email", "email")
    list_select_related = ("user",)


class CuratedCollectionItemInline(_CollectionItemInline):
    model = CuratedCollectionItem
    fields = ("rank", "product", "score")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CuratedCollectionItem]:
        return super().get_queryset(request).select_related("product")


@admin.register(CuratedCollection)
class CuratedCollectionAdmin(ReadOnlyAdmin):
    list_display = ("title", "surface", "target_date", "position", "theme", "generated_at")
    list_filter = ("surface", "target_date")
    search_fields = ("title", "theme", "job_id")
    date_hierarchy = "target_date"
    inlines = [CuratedCollectionItemInline]
    fields = (
        "surface",
        "target_date",
        "position",
        "theme",
        "title",
        "description",
        "params",
        "params_hash",
        "job_id",
        "generated_at",
    )
    readonly_fields = fields


def hide_unused_task_admin() -> None:
    """Unregister django_dramatiq's "Tasks" admin unless its AdminMiddleware records tasks.

    gifting_jobs keeps its own records (dead letters, held jobs, metrics), so
    that table stays empty and the page would always say 0 tasks.
    """
    broker = getattr(settings, "DRAMATIQ_BROKER", None) or {}
    if not apps.is_installed("django_dramatiq") or DJANGO_DRAMATIQ_TASKS_MIDDLEWARE in broker.get("MIDDLEWARE", []):
        return
    # Imported first so its registration has happened, whatever the INSTALLED_APPS order.
    import django_dramatiq.admin  # noqa: F401
    from django_dramatiq.models import Task

    if admin.site.is_registered(Task):
        admin.site.unregister(Task)


hide_unused_task_admin()
