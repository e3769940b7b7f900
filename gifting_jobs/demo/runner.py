"""Plays the end-to-end demo through the real code paths and reports what each step did.

1. Catalog: each demo product is POSTed, HMAC-signed, to the CMS webhook
   (in-process `django.test.Client`); the Product post_save signal enqueues
   its enrichment and embedding.
2. Processing: a real Dramatiq worker runs in this process; the demo waits
   until every PUBLISHED, visible demo product is embedded and enriched for
   its current text (its own rows, never queue emptiness: other work may share
   the Redis namespace).
3. Taste profiles of a demo user, their embeddings, and recommendations.
4. Today's curated collections for every surface.
5. The reminders of an occasion; the nearest one is made due and sent.

Every step reuses what an earlier run left (user, recipients, profiles,
occasion, products), so the demo can run again and again: reminders already
sent are reported, not sent twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

import dramatiq
import redis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gifting_jobs.answers import parse_answers
from gifting_jobs.broker import get_broker
from gifting_jobs.catalog import JobType
from gifting_jobs.conf import get_settings
from gifting_jobs.demo import data, report
from gifting_jobs.dispatch import Job, JobOutcome
from gifting_jobs.exceptions import GiftingJobsError, RecommendationError
from gifting_jobs.jobs import enqueue_product_embedding, enqueue_product_enrichment
from gifting_jobs.models import (
    Channel,
    CuratedCollection,
    FailedJob,
    NotificationSchedule,
    NotificationStatus,
    Occasion,
    Product,
    ProductStatus,
    Recipient,
    Surface,
    TasteProfile,
)
from gifting_jobs.models.reminders import NotificationPreference
from gifting_jobs.payloads import CuratedCollectionsPayload, TriggeredBy
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.services import (
    complete_taste_profile,
    generate_daily_collections,
    get_recommendations,
    process_overdue_reminders,
    schedule_reminders_for_occasion,
)
from gifting_jobs.services.collections import latest_collections
from gifting_jobs.status import collect_status
from gifting_jobs.taxonomy import TAG_LABELS
from gifting_jobs.webhooks import SIGNATURE_HEADER, sign
from gifting_jobs.work.products import embedding_is_current, products_with_vector_deferred
from gifting_jobs.work.profiles import taste_profile_text, text_hash

if TYPE_CHECKING:
    # The user model as django-stubs resolves AUTH_USER_MODEL (the foreign keys to it are typed so).
    from django.contrib.auth.models import User

#: How long each wait (catalog, profiles, collections, reminders) may take by default.
DEFAULT_TIMEOUT_SECONDS = 300.0
#: A wait looks at its rows again after this, then a growing interval up to the cap: short waits
#: end promptly, long ones do not compete (for the GIL, for the database) with the worker they wait on.
POLL_FIRST_INTERVAL_SECONDS = 0.05
POLL_MAX_INTERVAL_SECONDS = 0.5
POLL_BACKOFF = 1.5
#: Threads of the in-process Dramatiq worker.
WORKER_THREADS = 4
#: How long a worker's consumer blocks on an empty queue (ms): small, so new jobs start at once and stop is quick.
WORKER_TIMEOUT_MS = 100
#: How long stopping the worker may wait for jobs in flight (ms).
WORKER_STOP_TIMEOUT_MS = 30_000
#: Recommendations shown per taste profile.
RECOMMENDATIONS_SHOWN = 5
#: Enrichment tags shown in the catalog summary.
TOP_TAGS_SHOWN = 10
#: Products named per collection.
COLLECTION_PRODUCTS_SHOWN = 3
#: The channels the demo user is reminded on (both console backends show their message).
DEMO_CHANNELS = (Channel.PUSH, Channel.EMAIL)
#: Width of one shown error message.
ERROR_WIDTH = 70
#: The Host the Django test client sends by default.
TEST_CLIENT_HOST = "testserver"
#: Statuses a reminder does not leave by itself.
SETTLED_REMINDER_STATUSES = (NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.CANCELLED)

PRODUCT_JOB_TYPES = (JobType.PRODUCT_EMBEDDING.value, JobType.PRODUCT_ENRICHMENT.value)


class DemoFailed(GiftingJobsError):
    """A step of the demo timed out or failed; the message says which, and what was left."""


@dataclass(frozen=True)
class DemoOptions:
    """What `gifting_demo` was asked: the wait budget per step and how many products to load (None: all)."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    products: int | None = None


@dataclass(frozen=True)
class DemoResult:
    """How the run went: the problems seen (empty when all went well) and its duration."""

    problems: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


class Progress(Protocol):
    """What a wait polls: whether it is over, and how far it got (for the timeout message)."""

    @property
    def done(self) -> bool: ...

    def describe(self) -> str: ...


def wait_for[P: Progress](check: Callable[[], P], *, timeout: float, what: str) -> P:
    """Poll `check` until its progress is done; `DemoFailed` naming what is missing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    interval = POLL_FIRST_INTERVAL_SECONDS
    while True:
        progress = check()
        if progress.done:
            return progress
        left = deadline - time.monotonic()
        if left <= 0:
            raise DemoFailed(f"timed out after {timeout:g} s waiting for {what}: {progress.describe()}")
        time.sleep(min(interval, left))
        interval = min(interval * POLL_BACKOFF, POLL_MAX_INTERVAL_SECONDS)


@dataclass(frozen=True)
class Waiting:
    """A plain progress: done or not, and a sentence saying where it stands."""

    done: bool
    detail: str

    def describe(self) -> str:
        return self.detail


@dataclass(frozen=True)
class CatalogState:
    """The demo products as the mirror holds them now."""

    mirrored: int
    published: int
    featured: int
    #: PUBLISHED and visible: the products that get enriched and embedded.
    recommendable: int
    embedded: int
    enriched: int
    #: Recommendable products left without an embedding, or an enrichment, by a job dead-lettered during this run.
    embedding_failed: int = 0
    enrichment_failed: int = 0
    #: Products with either failure.
    failed: int = 0
    tags: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> bool:
        return (
            self.embedded + self.embedding_failed >= self.recommendable
            and self.enriched + self.enrichment_failed >= self.recommendable
        )

    def describe(self) -> str:
        return (
            f"{self.embedded} of {self.recommendable} products embedded, {self.enriched} enriched; "
            f"dead-lettered: {self.embedding_failed} embeddings, {self.enrichment_failed} enrichments"
        )


def enrichment_is_current(product: Product, prompt_version: str) -> bool:
    """Whether the product's enrichment was made from its current text with this prompt version."""
    return (
        product.enrichment is not None
        and product.enrichment_version == prompt_version
        and product.enrichment_text_hash == product.text_hash()
    )


def describe_failure(failed: FailedJob) -> str:
    """A dead letter's error on one line: the exception's class name (without its module) and message."""
    return report.clip(f"{failed.error_class.rpartition('.')[2]}: {failed.error_message}", ERROR_WIDTH)


def job_pending(job: Job) -> bool:
    """Whether the job is still queued, delayed or running: its idempotency lock is held until it is over."""
    return get_broker().job_pending(job.id)


def webhook_host() -> str:
    """A Host header the project accepts, for the in-process POSTs (a typo'd host would answer 400)."""
    hosts = list(django_settings.ALLOWED_HOSTS)
    if "*" in hosts or TEST_CLIENT_HOST in hosts:
        return TEST_CLIENT_HOST
    if not hosts:
        # Django's own default while DEBUG is on and ALLOWED_HOSTS is empty.
        return "localhost"
    return hosts[0].lstrip(".")


class DemoRunner:
    """One run of the demo; `run()` writes the report through `write` (one line per call)."""

    def __init__(self, options: DemoOptions, *, write: Callable[[str], None]) -> None:
        self.options = options
        self._write = write
        self.problems: list[str] = []
        self.timings: dict[str, float] = {}
        #: Dead letters written before this moment belong to earlier runs.
        self.started_at = timezone.now()

    def emit(self, *lines: str) -> None:
        for line in lines:
            self._write(line)

    def run(self) -> DemoResult:
        """Play every step; raises `DemoFailed` when one times out or cannot go on."""
        started = time.monotonic()
        docs = data.product_docs(self.options.products)
        self._intro(len(docs))
        external_ids = self._load_catalog(docs)
        with self._worker():
            self._process_catalog(external_ids)
            user, recipients = self._taste_profiles()
            self._collections()
            self._reminders(user, recipients[data.OCCASION.recipient_name])
            self._django_task()
        self.timings["total"] = time.monotonic() - started
        self._summary()
        return DemoResult(problems=tuple(self.problems), seconds=self.timings["total"])

    @contextmanager
    def _worker(self) -> Iterator[dramatiq.Worker]:
        """A real Dramatiq worker in this process, stopped (in-flight jobs finished) however the run ends."""
        worker = dramatiq.Worker(get_broker(), worker_threads=WORKER_THREADS, worker_timeout=WORKER_TIMEOUT_MS)
        worker.start()
        try:
            yield worker
        finally:
            worker.stop(timeout=WORKER_STOP_TIMEOUT_MS)

    @contextmanager
    def _timed(self, step: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[step] = time.monotonic() - started

    def _intro(self, product_count: int) -> None:
        broker = get_broker()
        db = connection.settings_dict
        conf = get_settings()
        title = "gifting-jobs end-to-end demo"
        self.emit(
            title,
            "=" * len(title),
            f"  database    {db['NAME']} on {db['HOST'] or 'localhost'}",
            f"  broker      Redis at {broker.address()}, namespace {broker.namespace!r}",
            f"  embeddings  {conf.EMBEDDING_PROVIDER} ({get_embedding_provider().model_name})",
            f"  enrichment  {conf.ENRICHMENT_PROVIDER}, prompt version {conf.PROMPT_VERSION}",
            f"  catalog     {product_count} demo products; each wait gives up after {self.options.timeout:g} s",
        )

    def _load_catalog(self, docs: Sequence[dict[str, Any]]) -> list[str]:
        """POST every document, signed, to the webhook; returns the CMS ids of the documents sent."""
        secret = get_settings().WEBHOOK_SECRET
        if not secret:
            raise DemoFailed(
                "GIFTING_JOBS['WEBHOOK_SECRET'] is empty, so the webhook rejects every delivery: "
                "set GIFTING_WEBHOOK_SECRET (or the setting, or DJANGO_DEBUG=1 for the dev secret) and run the demo again"
            )
        url = reverse("gifting_jobs:payload-products")
        # A view that raises answers 500 here, as in production, instead of aborting the demo.
        client = Client(raise_request_exception=False, HTTP_HOST=webhook_host())
        actions: Counter[str] = Counter()
        rejected: list[tuple[str, int, str]] = []
        with self._timed("load"):
            for doc in docs:
                body = json.dumps({"event": "product.created", "doc": doc}).encode()
                response = client.post(
                    url, data=body, content_type="application/json", headers={SIGNATURE_HEADER: sign(body, secret)}
                )
                if response.status_code == 202:
                    actions[response.json().get("action", "?")] += 1
                else:
                    rejected.append((doc["id"], response.status_code, response.content.decode(errors="replace")))
        accepted = sum(actions.values())
        self.emit(
            *report.heading("1. Catalog: products from the CMS webhook"),
            f"  {len(docs)} signed product.created events POSTed to {url} in {report.seconds(self.timings['load'])}",
            f"  202 Accepted: {accepted}"
            + (f" ({', '.join(f'{action} {n}' for action, n in sorted(actions.items()))})" if actions else ""),
        )
        if rejected:
            self.emit(f"  other answers: {len(rejected)}")
            self.emit(*report.table(("CMS id", "status", "answer"), rejected, right=(1,), max_cell=ERROR_WIDTH))
            self.problems.append(f"{len(rejected)} webhook deliveries were not accepted (first: {rejected[0][0]})")
        state = self._catalog_state([d["id"] for d in docs])
        self.emit(
            f"  mirrored: {state.mirrored} products, {state.published} published, {state.featured} featured, "
            f"{state.recommendable} published and visible to gifters (these get enriched and embedded)"
        )
        resent = self._catch_up([d["id"] for d in docs])
        if resent:
            self.emit(f"  {resent} jobs enqueued again for products an earlier run left unprocessed")
        return [d["id"] for d in docs]

    def _catch_up(self, external_ids: Sequence[str]) -> int:
        """Enqueue the jobs of products still not current, with the signal's own job ids.

        On a first run each of these is deduplicated against the job the
        signal just sent; it only sends something when an earlier run's jobs
        were lost (a flushed Redis), so the demo never waits for nothing.
        """
        provider = get_embedding_provider()
        version = get_settings().PROMPT_VERSION
        sent = 0
        products = products_with_vector_deferred().filter(
            external_id__in=external_ids, status=ProductStatus.PUBLISHED, visible_to_gifter=True
        )
        for product in products:
            jobs = []
            if not embedding_is_current(product, provider):
                previous = product.embedding_text_hash or None
                jobs.append(
                    enqueue_product_embedding(product.pk, triggered_by=TriggeredBy.MANUAL, previous_text_hash=previous)
                )
            if not enrichment_is_current(product, version):
                jobs.append(enqueue_product_enrichment(product.pk, triggered_by=TriggeredBy.MANUAL))
            sent += sum(job.outcome is not JobOutcome.DEDUPLICATED for job in jobs)
        return sent

    def _catalog_state(self, external_ids: Sequence[str]) -> CatalogState:
        provider = get_embedding_provider()
        version = get_settings().PROMPT_VERSION
        products = list(products_with_vector_deferred().filter(external_id__in=external_ids))
        recommendable = [p for p in products if p.is_recommendable]
        embedded = [p for p in recommendable if embedding_is_current(p, provider)]
        enriched = [p for p in recommendable if enrichment_is_current(p, version)]
        failed: dict[str, set[str]] = defaultdict(set)
        for job_type, entity_id in FailedJob.objects.filter(
            job_type__in=PRODUCT_JOB_TYPES,
            entity_id__in=[str(p.pk) for p in recommendable],
            last_failed_at__gte=self.started_at,
        ).values_list("job_type", "entity_id"):
            failed[job_type].add(entity_id)
        embedding_failed = failed[JobType.PRODUCT_EMBEDDING] - {str(p.pk) for p in embedded}
        enrichment_failed = failed[JobType.PRODUCT_ENRICHMENT] - {str(p.pk) for p in enriched}
        tags: Counter[str] = Counter(
            tag for p in enriched for tag in (p.enrichment or {}).get("tags", []) if isinstance(tag, str)
        )
        return CatalogState(
            mirrored=len(products),
            published=sum(p.status == ProductStatus.PUBLISHED for p in products),
            featured=sum(p.is_featured for p in products),
            recommendable=len(recommendable),
            embedded=len(embedded),
            enriched=len(enriched),
            embedding_failed=len(embedding_failed),
            enrichment_failed=len(enrichment_failed),
            failed=len(embedding_failed | enrichment_failed),
            tags=tags,
        )

    def _process_catalog(self, external_ids: Sequence[str]) -> None:
        self.emit(
            *report.heading(f"2. Processing: a Dramatiq worker in this process ({WORKER_THREADS} threads)"),
            "  waiting for the enrichment and embedding of every published, visible demo product...",
        )
        with self._timed("processing"):
            state = wait_for(
                lambda: self._catalog_state(external_ids),
                timeout=self.options.timeout,
                what="the demo products' enrichment and embedding jobs",
            )
        self.emit(
            f"  done in {report.seconds(self.timings['processing'])}: {state.embedded} of {state.recommendable} "
            f"embedded, {state.enriched} enriched" + (f" ({state.describe()})" if state.failed else ""),
        )
        if state.failed:
            self.problems.append(f"{state.failed} products could not be processed (see the dead letters below)")
        if state.tags:
            rows = [(tag, TAG_LABELS.get(tag, ""), count) for tag, count in state.tags.most_common(TOP_TAGS_SHOWN)]
            self.emit("", '  Top tags found by enrichment (Product.enrichment["tags"])')
            self.emit(*report.table(("tag", "label", "products"), rows, right=(2,)))
        self.emit("", *self._job_timings())

    def _job_timings(self) -> list[str]:
        """Per job type p50/p95 from `gifting_jobs.status`, or a line saying why there are none."""
        try:
            status = collect_status()
        except redis.RedisError as exc:
            return [f"  per-job timings unavailable: the broker did not answer ({exc})"]
        rows = [
            (d.job_type, d.count, report.milliseconds(d.p50_ms), report.milliseconds(d.p95_ms))
            for d in status.durations
            if d.count
        ]
        if not rows:
            return ["  per-job timings: no job durations recorded yet"]
        return [
            f"  Job durations (recent runs in namespace {status.namespace!r}, from collect_status())",
            *report.table(("job type", "runs", "p50 ms", "p95 ms"), rows, right=(1, 2, 3)),
        ]

    def _demo_user(self) -> User:
        user_model = get_user_model()
        email_field = user_model.get_email_field_name()
        user, created = user_model._default_manager.get_or_create(
            **{user_model.USERNAME_FIELD: data.DEMO_USERNAME}, defaults={email_field: data.DEMO_EMAIL}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        NotificationPreference.objects.update_or_create(
            user=user,
            defaults={
                "channels": [c.value for c in DEMO_CHANNELS],
                "email": data.DEMO_EMAIL,
                "timezone": django_settings.TIME_ZONE or "UTC",
            },
        )
        return user

    def _taste_profiles(self) -> tuple[User, dict[str, Recipient]]:
        user = self._demo_user()
        recipients: dict[str, Recipient] = {}
        profiles: list[tuple[data.DemoProfile, TasteProfile]] = []
        messages: set[str] = set()
        with self._timed("profiles"):
            for demo in data.PROFILES:
                recipient = Recipient.objects.filter(user=user, name=demo.recipient_name).order_by("pk").first()
                if recipient is None:
                    recipient = Recipient.objects.create(
                        user=user, name=demo.recipient_name, relationship=demo.relationship, age_range=demo.age_range
                    )
                recipients[demo.recipient_name] = recipient
                profile, _ = TasteProfile.objects.get_or_create(user=user, recipient=recipient)
                completion = complete_taste_profile(profile.pk, user.pk, demo.answers)
                messages.add(completion.message)
                profiles.append((demo, completion.profile))
            self.emit(
                *report.heading("3. Taste profiles and recommendations"),
                f"  user {data.DEMO_USERNAME!r} (id {user.pk}): {len(profiles)} profiles completed with "
                "complete_taste_profile()",
                *(f"  the user reads: {message!r}" for message in sorted(messages)),
            )
            rows = [
                (
                    demo.recipient_name,
                    f"{demo.relationship}, {demo.age_range}",
                    f"{demo.answers['budget_min']}-{demo.answers['budget_max']} {data.CURRENCY}",
                    ", ".join(demo.answers["interests"]),
                    ", ".join(demo.answers["dislikes"]),
                )
                for demo, _ in profiles
            ]
            self.emit(*report.table(("for", "who", "budget", "interests", "dislikes"), rows))
            pks = [profile.pk for _, profile in profiles]
            wait_for(
                lambda: self._profiles_state(pks),
                timeout=self.options.timeout,
                what="the taste profile embeddings",
            )
        self.emit(
            f"  profiles completed and embedded in {report.seconds(self.timings['profiles'])}",
            "  (score: cosine similarity to the profile; the order is diversified, so scores need not decrease)",
        )
        for demo, _ in profiles:
            self._show_recommendations(user, recipients[demo.recipient_name], demo)
        return user, recipients

    def _profiles_state(self, pks: Sequence[int]) -> Waiting:
        model_name = get_embedding_provider().model_name
        profiles = list(TasteProfile.objects.filter(pk__in=pks))
        current = [
            p
            for p in profiles
            if p.embedding is not None
            and p.embedding_model == model_name
            and p.embedding_text_hash == text_hash(taste_profile_text(parse_answers(p.answers)))
        ]
        failed = FailedJob.objects.filter(
            job_type=JobType.TASTE_PROFILE_EMBEDDING,
            entity_id__in=[str(pk) for pk in pks],
            last_failed_at__gte=self.started_at,
        ).first()
        if failed is not None:
            raise DemoFailed(
                f"the embedding of taste profile {failed.entity_id} was dead-lettered: {describe_failure(failed)}"
            )
        return Waiting(done=len(current) == len(pks), detail=f"{len(current)} of {len(pks)} profiles embedded")

    def _show_recommendations(self, user: User, recipient: Recipient, demo: data.DemoProfile) -> None:
        try:
            recommendations = get_recommendations(user.pk, recipient_id=recipient.pk, limit=RECOMMENDATIONS_SHOWN)
        except RecommendationError as exc:
            raise DemoFailed(f"no recommendations for {recipient.name}: {exc}") from exc
        self.emit(
            "",
            f"  {recipient.name} ({demo.relationship}, {demo.answers['style']}): "
            f"get_recommendations(user_id={user.pk}, recipient_id={recipient.pk}, limit={RECOMMENDATIONS_SHOWN})",
        )
        if not recommendations:
            self.emit("    (no published product fits this profile's budget and dislikes yet)")
            return
        rows = [
            (
                rank,
                r.product.title,
                report.price(r.product.price, r.product.currency),
                f"{r.score:.3f}",
                r.reasons[0] if r.reasons else "-",
            )
            for rank, r in enumerate(recommendations, start=1)
        ]
        self.emit(*report.table(("#", "product", "price", "score", "first reason"), rows, right=(0, 2, 3)))

    def _collections(self) -> None:
        since = timezone.now()
        with self._timed("collections"):
            jobs = generate_daily_collections()
            # The date the service chose ("today" where it ran), even if the run crosses midnight.
            target = jobs[0].payload.target_date if jobs else timezone.localdate()
            outcomes = ", ".join(f"{job.payload.surface} {job.outcome}" for job in jobs)
            self.emit(
                *report.heading(f"4. Curated collections for {target.isoformat()}"),
                f"  generate_daily_collections(): {len(jobs)} jobs ({outcomes})",
            )
            wait_for(lambda: self._collections_state(jobs), timeout=self.options.timeout, what="the collection builds")
        failures = FailedJob.objects.filter(job_id__in=[job.id for job in jobs], last_failed_at__gte=since)
        for failed in failures:
            self.problems.append(f"collections job {failed.job_id} failed: {describe_failure(failed)}")
        self.emit(f"  built in {report.seconds(self.timings['collections'])}")
        for surface in Surface:
            self._show_surface(surface, target)

    @staticmethod
    def _collections_state(jobs: Sequence[Job]) -> Waiting:
        pending = [cast(CuratedCollectionsPayload, job.payload).surface for job in jobs if job_pending(job)]
        return Waiting(done=not pending, detail=f"still building: {', '.join(map(str, pending))}")

    def _show_surface(self, surface: Surface, target: date) -> None:
        collections: list[CuratedCollection] = latest_collections(surface.value, target)
        self.emit("", f"  {surface.label}" + (f": {collections[0].description}" if collections else ""))
        if not collections:
            self.emit("    (no theme has enough enriched products for this surface yet)")
            return
        rows = []
        for position, collection in enumerate(collections, start=1):
            items = list(collection.items.all())
            shown = "; ".join(item.product.title for item in items[:COLLECTION_PRODUCTS_SHOWN])
            more = f" +{len(items) - COLLECTION_PRODUCTS_SHOWN}" if len(items) > COLLECTION_PRODUCTS_SHOWN else ""
            rows.append((position, collection.title, len(items), report.clip(shown, 70) + more))
        self.emit(*report.table(("#", "collection", "items", "first products"), rows, right=(0, 2), max_cell=80))

    def _occasion(self, user: User, recipient: Recipient) -> tuple[Occasion, bool]:
        """The demo occasion, `days_ahead` days from today; True when its date was (re)set by this run."""
        wanted = timezone.localdate() + timedelta(days=data.OCCASION.days_ahead)
        occasion = Occasion.objects.filter(user=user, name=data.OCCASION.name).order_by("pk").first()
        if occasion is None:
            return Occasion.objects.create(user=user, recipient=recipient, name=data.OCCASION.name, date=wanted), True
        if occasion.date != wanted or occasion.recipient_id != recipient.pk:
            occasion.date, occasion.recipient = wanted, recipient
            occasion.save(update_fields=["date", "recipient", "updated_at"])
            return occasion, True
        return occasion, False

    def _schedules(self, occasion: Occasion) -> list[NotificationSchedule]:
        return list(
            NotificationSchedule.objects.filter(occasion=occasion, occasion_date=occasion.date)
            .exclude(status=NotificationStatus.CANCELLED)
            .order_by("scheduled_for", "offset_days", "channel")
        )

    def _show_schedules(self, schedules: Sequence[NotificationSchedule]) -> None:
        rows = [
            (
                s.channel,
                f"{s.offset_days} day{'s' if s.offset_days != 1 else ''} before",
                f"{timezone.localtime(s.scheduled_for):%Y-%m-%d %H:%M %Z}",
                s.status,
                f"{timezone.localtime(s.sent_at):%H:%M:%S}" if s.sent_at else "-",
                report.clip(s.payload.get("title", ""), 40),
            )
            for s in schedules
        ]
        self.emit(*report.table(("channel", "offset", "scheduled for", "status", "sent at", "title"), rows))

    def _reminders(self, user: User, recipient: Recipient) -> None:
        occasion, moved = self._occasion(user, recipient)
        with self._timed("reminders"):
            scheduling = schedule_reminders_for_occasion(occasion)
            self.emit(
                *report.heading(f"5. Reminders: {occasion.name} on {occasion.date:%A %d %B %Y}"),
                f"  occasion {'set to' if moved else 'kept at'} {data.OCCASION.days_ahead} days from today; "
                f"channels {', '.join(c.value for c in DEMO_CHANNELS)}",
                f"  schedule_reminders_for_occasion(): {len(scheduling.created)} created, "
                f"{len(scheduling.unchanged)} unchanged, {len(scheduling.cancelled)} cancelled"
                + (
                    f", offsets {', '.join(map(str, scheduling.skipped_past))} days skipped (already past)"
                    if scheduling.skipped_past
                    else ""
                ),
            )
            schedules = self._schedules(occasion)
            if not schedules:
                raise DemoFailed(f"no reminder could be scheduled for {occasion.name} on {occasion.date}")
            self._show_schedules(schedules)
            nearest = [s for s in schedules if s.offset_days == schedules[0].offset_days]
            if all(s.status == NotificationStatus.SENT for s in nearest):
                self.emit(
                    f"  the {nearest[0].offset_days}-day reminders were sent by an earlier run "
                    f"at {timezone.localtime(nearest[0].sent_at):%Y-%m-%d %H:%M:%S}: not sent again"
                )
                return
            self._send_now(nearest)
            self.emit("", "  Schedules after the sweep")
            self._show_schedules(self._schedules(occasion))

    def _send_now(self, nearest: Sequence[NotificationSchedule]) -> None:
        """Make the nearest reminders due now (the demo's shortcut), run the sweep, wait until they are settled."""
        queued = [s.pk for s in nearest if s.status == NotificationStatus.QUEUED]
        now = timezone.now()
        moved = NotificationSchedule.objects.filter(pk__in=queued, status=NotificationStatus.QUEUED).update(
            scheduled_for=now, updated_at=now
        )
        due = nearest[0].scheduled_for
        self.emit(
            "",
            f"  demo shortcut: the {nearest[0].offset_days}-day reminders ({moved} schedules) were due "
            f"{timezone.localtime(due):%Y-%m-%d %H:%M %Z}; their scheduled_for is set to now so the sweep sends them",
        )
        handed = process_overdue_reminders()
        self.emit(
            f"  process_overdue_reminders(): {handed} handed to the broker; the console backends print what they send:",
            "",
        )
        pks = [s.pk for s in nearest]
        wait_for(lambda: self._reminders_state(pks), timeout=self.options.timeout, what="the reminders to be sent")
        for schedule in NotificationSchedule.objects.filter(pk__in=pks, status=NotificationStatus.FAILED):
            self.problems.append(f"reminder {schedule.pk} ({schedule.channel}) failed: {schedule.last_error}")

    @staticmethod
    def _reminders_state(pks: Sequence[int]) -> Waiting:
        statuses = Counter(NotificationSchedule.objects.filter(pk__in=pks).values_list("status", flat=True))
        settled = sum(statuses[s] for s in SETTLED_REMINDER_STATUSES)
        detail = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        return Waiting(done=settled == len(pks), detail=detail)

    def _django_task(self) -> None:
        """Enqueue one `@task` through Django's task API and follow its result through its states."""
        from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends

        from gifting_jobs.tasks.backend import SpineTaskBackend

        self.emit(*report.heading("6. Django's task API: one @task on the spine"))
        default_task_backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
        if not isinstance(default_task_backend, SpineTaskBackend):
            self.emit(f"  skipped: TASKS['default'] is {type(default_task_backend).__name__}, not SpineTaskBackend")
            return
        from gifting_jobs.demo.tasks import summarise_demo_catalog

        seen: list[str] = []

        def state() -> Waiting:
            current = default_task_backend.get_result(result.id)
            if not seen or seen[-1] != current.status:
                seen.append(current.status)
            return Waiting(done=current.is_finished, detail=f"status {current.status}")

        with self._timed("task"):
            result = summarise_demo_catalog.enqueue()
            self.emit(
                f"  summarise_demo_catalog.enqueue() -> result {result.id}, {result.status}, "
                f"through {type(default_task_backend).__name__}"
            )
            wait_for(state, timeout=self.options.timeout, what="the @task to finish")
        result.refresh()
        self.emit(
            f"  states seen by get_result(): {' -> '.join(seen)} in {report.seconds(self.timings['task'])}",
            f"  attempts {result.attempts}, worker {result.worker_ids[-1] if result.worker_ids else '-'}",
        )
        if result.status == "SUCCESSFUL":
            self.emit(f"  return value: {json.dumps(result.return_value, sort_keys=True)}")
        else:
            error = result.errors[-1].exception_class_path if result.errors else "no error recorded"
            self.problems.append(f"the demo @task ended {result.status}: {error}")

    def _summary(self) -> None:
        self.emit(*report.heading("7. Summary"))
        steps = ("load", "processing", "profiles", "collections", "reminders", "task", "total")
        timings = (f"{step} {report.seconds(self.timings[step])}" for step in steps if step in self.timings)
        self.emit("  timings: " + ", ".join(timings))
        self._dead_letters()
        if self.problems:
            self.emit("", f"  {len(self.problems)} problem(s):", *(f"  - {p}" for p in self.problems))
        else:
            self.emit("  all steps went well")

    def _dead_letters(self) -> None:
        """FailedJob rows written during this run, counted by type and reason, with the first error of each."""
        failures = FailedJob.objects.filter(first_failed_at__gte=self.started_at).order_by("first_failed_at", "pk")
        groups: dict[tuple[str, str], list[FailedJob]] = defaultdict(list)
        for failed in failures:
            groups[(failed.job_type, failed.reason)].append(failed)
        if not groups:
            self.emit("  dead letters (FailedJob) written during this run: none")
            return
        rows = [
            (job_type, reason, len(items), describe_failure(items[0]))
            for (job_type, reason), items in sorted(groups.items())
        ]
        self.emit("  dead letters (FailedJob) written during this run:")
        self.emit(*report.table(("job type", "reason", "count", "first error"), rows, right=(2,), max_cell=ERROR_WIDTH))
        self.problems.append(f"{sum(len(items) for items in groups.values())} jobs were dead-lettered")


def run_demo(options: DemoOptions, *, write: Callable[[str], None]) -> DemoResult:
    """Play the demo, writing its report line by line; `DemoFailed` when a step times out or fails."""
    return DemoRunner(options, write=write).run()


__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "DemoFailed",
    "DemoOptions",
    "DemoResult",
    "DemoRunner",
    "run_demo",
    "wait_for",
]
