"""The dashboard's dead letters page: failures grouped by error fingerprint, retry chains, bulk Retry and Discard.

Filters and search are those of the admin's changelist (`DeadLetterSelection`).
"Retry all matching" and "Discard all matching" go through a confirmation
page: its GET counts the open dead letters of the selection up to the newest
id at that moment, and its POST carries that snapshot in a signed token, so
the action covers exactly what was confirmed (rows failing later are left
alone, a tampered token is refused) and runs in batches (`retry_matching`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse

from gifting_jobs.dashboard.base import VIEW_PERMISSION, DashboardPage
from gifting_jobs.dead_letters import (
    BulkResult,
    DeadLetterSelection,
    InvalidSelectionError,
    discard_matching,
    known_job_types,
    known_queues,
    retry_matching,
)
from gifting_jobs.fingerprint import mask_message
from gifting_jobs.models import FailedJob, FailedJobReason, FailedJobStatus

#: The permission guarding Retry and Discard, here and in the admin (declared on `FailedJob.Meta.permissions`).
RETRY_PERMISSION = "gifting_jobs.retry_failedjob"
#: Error groups and retry chains listed at most (the newest); narrow the filter to see others.
GROUPS_SHOWN = 50
CHAINS_SHOWN = 50
#: A confirmation is valid this long (seconds); then the operator confirms again.
CONFIRMATION_MAX_AGE = 3600
#: Namespaces the signed confirmation token (so no other signed value passes for one).
CONFIRMATION_SALT = "gifting_jobs.dashboard.dead_letters.confirm"


@dataclass(frozen=True)
class BulkAction:
    """A bulk action: how people read it, and the service function that does it."""

    verb: str
    past: str
    run: Callable[..., BulkResult]


#: The bulk actions by URL slug.
BULK_ACTIONS = {
    "retry": BulkAction("Retry", "Retried", retry_matching),
    "discard": BulkAction("Discard", "Discarded", discard_matching),
}


def _chain_id() -> Coalesce:
    """The id of a row's retry chain: its first dead letter's id."""
    return Coalesce("chain_root_id", "id", output_field=IntegerField())


@dataclass(frozen=True)
class ErrorGroup:
    """Dead letters sharing a fingerprint: counts, first and last seen, a sample message."""

    fingerprint: str
    job_type: str
    error_class: str
    pattern: str
    sample_message: str
    count: int
    open: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class ChainEntry:
    """One retry chain (a dead letter and the failures of its retries) as one line of history."""

    chain_id: int
    latest: FailedJob
    failures: int
    attempts: int


def error_groups(failed_jobs: QuerySet[FailedJob]) -> list[ErrorGroup]:
    """The groups of `failed_jobs` by fingerprint, most recently failed first (at most `GROUPS_SHOWN`)."""
    rows = list(
        failed_jobs.values("fingerprint", "job_type", "error_class")
        .annotate(
            count=Count("id"),
            open=Count("id", filter=Q(status=FailedJobStatus.OPEN)),
            first_seen=Min("first_failed_at"),
            last_seen=Max("last_failed_at"),
            sample=Max("id"),
        )
        .order_by("-last_seen", "fingerprint")[:GROUPS_SHOWN]
    )
    samples = FailedJob.objects.only("error_message").in_bulk([row["sample"] for row in rows])
    return [
        ErrorGroup(
            fingerprint=row["fingerprint"],
            job_type=row["job_type"],
            error_class=row["error_class"],
            pattern=mask_message(samples[row["sample"]].error_message),
            sample_message=samples[row["sample"]].error_message,
            count=row["count"],
            open=row["open"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
        )
        for row in rows
    ]


def retry_chains(failed_jobs: QuerySet[FailedJob]) -> list[ChainEntry]:
    """The retry chains `failed_jobs` touch, most recently failed first, each with its whole chain's totals."""
    keys = list(
        failed_jobs.annotate(chain_id=_chain_id())
        .values("chain_id")
        .annotate(last=Max("last_failed_at"))
        .order_by("-last", "-chain_id")
        .values_list("chain_id", flat=True)[:CHAINS_SHOWN]
    )
    totals = {
        row["chain_id"]: row
        for row in FailedJob.objects.annotate(chain_id=_chain_id())
        .filter(chain_id__in=keys)
        .values("chain_id")
        .annotate(failures=Count("id"), attempts=Sum("attempts"), latest=Max("id"))
    }
    latest = FailedJob.objects.in_bulk([row["latest"] for row in totals.values()])
    return [
        ChainEntry(
            chain_id=key,
            latest=latest[totals[key]["latest"]],
            failures=totals[key]["failures"],
            attempts=totals[key]["attempts"] or 0,
        )
        for key in keys
    ]


def page_url(selection: DeadLetterSelection, name: str = "admin:gifting_jobs_dashboard_dead_letters") -> str:
    """A dead-letters URL (the page, or a bulk action's confirmation) for `selection`."""
    query = selection.params()
    return reverse(name) + (f"?{urlencode(query)}" if query else "")


class DeadLettersPage(DashboardPage):
    """Dead letters grouped by error, the retry chains below, and the bulk actions for the current selection."""

    tab = "dead_letters"
    template_name = "gifting_jobs/dashboard/dead_letters.html"
    # Forms and confirmation links must not be swapped out under the operator's pointer.
    refresh_seconds = 0

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            self.selection = DeadLetterSelection.from_params(request.GET)
        except InvalidSelectionError as exc:
            self.selection = DeadLetterSelection()
            context = self.get_context_data(invalid_selection=str(exc), **kwargs)
            return self.render_to_response(context, status=HTTPStatus.BAD_REQUEST)
        return self.render_to_response(self.get_context_data(**kwargs))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        selection = self.selection
        invalid = "invalid_selection" in kwargs
        matching = FailedJob.objects.none() if invalid else selection.queryset()
        open_count = matching.filter(status=FailedJobStatus.OPEN).count()
        can_retry = self.request.user.has_perm(RETRY_PERMISSION)
        return {
            **super().get_context_data(**kwargs),
            "selection": selection,
            "summary": selection.describe(),
            "choices": {
                "job_type": known_job_types(),
                "status": FailedJobStatus.choices,
                "reason": FailedJobReason.choices,
                "queue": known_queues(),
            },
            "groups": [
                (group, page_url(replace(selection, fingerprint=group.fingerprint))) for group in error_groups(matching)
            ],
            "group_total": matching.values("fingerprint").distinct().count(),
            "chains": retry_chains(matching),
            "matching_count": matching.count(),
            "open_count": open_count,
            "can_retry": can_retry,
            "retry_url": page_url(selection, "admin:gifting_jobs_dashboard_dead_letters_retry"),
            "discard_url": page_url(selection, "admin:gifting_jobs_dashboard_dead_letters_discard"),
            "admin_changelist": reverse("admin:gifting_jobs_failedjob_changelist"),
            "groups_shown": GROUPS_SHOWN,
            "chains_shown": CHAINS_SHOWN,
        }


class BulkActionPage(DashboardPage):
    """GET: "Retry N dead letters?" for the selection; POST (with the signed snapshot): do it in batches.

    Needs `gifting_jobs.retry_failedjob` (403 without). Bad input (unknown
    filter values, a tampered or expired token, a token of another action)
    answers 400 with what went wrong; nothing is changed.
    """

    tab = "dead_letters"
    template_name = "gifting_jobs/dashboard/dead_letters_confirm.html"
    refresh_seconds = 0
    action: ClassVar[str]
    http_method_names = ["get", "post"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.has_perm(VIEW_PERMISSION) and not request.user.has_perm(RETRY_PERMISSION):
            raise PermissionDenied(f"retrying or discarding dead letters needs the permission {RETRY_PERMISSION}")
        return super().dispatch(request, *args, **kwargs)

    @property
    def verb(self) -> str:
        return BULK_ACTIONS[self.action].verb

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            selection = DeadLetterSelection.from_params(request.GET)
        except InvalidSelectionError as exc:
            return self._refused(str(exc))
        up_to_id = FailedJob.objects.aggregate(newest=Max("id"))["newest"] or 0
        count = selection.open_up_to(up_to_id).count()
        token = signing.dumps(
            {"action": self.action, "params": selection.params(), "up_to_id": up_to_id, "count": count},
            salt=CONFIRMATION_SALT,
        )
        sample = (
            FailedJob.objects.filter(fingerprint=selection.fingerprint).order_by("-id").first()
            if selection.fingerprint
            else None
        )
        return self.render_to_response(
            self.get_context_data(
                selection=selection,
                summary=selection.describe(),
                group_pattern=f"{sample.error_class}: {mask_message(sample.error_message)}" if sample else "",
                count=count,
                token=token,
                back_url=page_url(selection),
            )
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            confirmed = signing.loads(
                request.POST.get("token", ""), salt=CONFIRMATION_SALT, max_age=CONFIRMATION_MAX_AGE
            )
        except signing.SignatureExpired:
            return self._refused(f"this confirmation is older than {CONFIRMATION_MAX_AGE // 60} minutes: confirm again")
        except signing.BadSignature:
            return self._refused("this confirmation is not valid (changed or cut): confirm again")
        if confirmed.get("action") != self.action:
            return self._refused(f"this confirmation was for {confirmed.get('action')!r}, not {self.action!r}")
        try:
            selection = DeadLetterSelection.from_params(confirmed["params"])
        except InvalidSelectionError as exc:
            return self._refused(str(exc))
        up_to_id, count = int(confirmed["up_to_id"]), int(confirmed["count"])
        action = BULK_ACTIONS[self.action]
        result = action.run(selection, up_to_id=up_to_id)
        handled = count - result.done - len(result.errors)
        text = f"{action.past} {result.done} of the {count} dead letters you confirmed ({selection.describe()})"
        if handled > 0:
            text += f"; {handled} had been retried or discarded meanwhile (by someone else, or an earlier click)"
        messages.add_message(request, messages.SUCCESS if result.done else messages.WARNING, text + ".")
        if result.errors:
            messages.error(
                request,
                f"Could not retry {len(result.errors)} (they stay open, the error is noted on each): "
                + "; ".join(result.errors),
            )
        return HttpResponseRedirect(page_url(selection))

    def _refused(self, reason: str) -> HttpResponse:
        context = self.get_context_data(refused=reason, back_url=reverse("admin:gifting_jobs_dashboard_dead_letters"))
        return self.render_to_response(context, status=HTTPStatus.BAD_REQUEST)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "verb": self.verb, "action": self.action}


class RetryMatchingPage(BulkActionPage):
    action = "retry"


class DiscardMatchingPage(BulkActionPage):
    action = "discard"


class RetryChainPage(DashboardPage):
    """One retry chain in order: the first dead letter, then each failure of a retry."""

    tab = "dead_letters"
    template_name = "gifting_jobs/dashboard/dead_letters_chain.html"
    refresh_seconds = 0

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        member = get_object_or_404(FailedJob, pk=kwargs["pk"])
        root = member.chain_key
        chain = list(FailedJob.objects.filter(Q(pk=root) | Q(chain_root_id=root)).order_by("id"))
        if not chain:
            raise Http404("no such retry chain")
        return {
            **super().get_context_data(**kwargs),
            "chain": chain,
            "root": chain[0],
            "attempts": sum(row.attempts for row in chain),
            "back_url": reverse("admin:gifting_jobs_dashboard_dead_letters"),
        }


def dead_letter_urls(site: AdminSite, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> list[URLPattern]:
    """The page's extra URLs: the bulk actions' confirmations and a retry chain's history."""
    return [
        path(
            "dead-letters/retry/",
            wrap(RetryMatchingPage.as_view(admin_site=site)),
            name="gifting_jobs_dashboard_dead_letters_retry",
        ),
        path(
            "dead-letters/discard/",
            wrap(DiscardMatchingPage.as_view(admin_site=site)),
            name="gifting_jobs_dashboard_dead_letters_discard",
        ),
        path(
            "dead-letters/chain/<int:pk>/",
            wrap(RetryChainPage.as_view(admin_site=site)),
            name="gifting_jobs_dashboard_dead_letters_chain",
        ),
    ]
