"""The taste-profile embedding job, and the batch re-embedding `backfill_embeddings` uses.

The text embedded is what the gifter said they like: interests, style, the
free "about" text and who the recipient is. Dislikes are left out on purpose:
an embedding has no "not", so "no coffee" would pull coffee closer; they are
applied as filters at recommendation time instead. Profiles are embedded by
the same provider as products, and the model name is stored with the vector,
so the two are only ever compared within one vector space.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.utils import timezone

from gifting_jobs.answers import TasteProfileAnswers, parse_answers
from gifting_jobs.exceptions import EntityNotFound, PermanentJobError, TransientJobError, ValidationError
from gifting_jobs.models import TasteProfile
from gifting_jobs.payloads import TasteProfileEmbeddingPayload
from gifting_jobs.providers.embeddings import EmbeddingProvider, get_embedding_provider
from gifting_jobs.work.batching import check_batch_size, process_in_batches

logger = logging.getLogger(__name__)

#: Rounds one job makes when the answers change while their embedding is computed.
MAX_EMBED_ROUNDS = 3
#: Profiles read from the database per round trip when looking for stale ones.
SCAN_CHUNK_SIZE = 500


def taste_profile_text(answers: TasteProfileAnswers) -> str:
    """The text of a profile that is embedded: interests, style, about, recipient (never dislikes)."""
    parts = [", ".join(answers.interests), answers.style or "", answers.about or ""]
    if answers.recipient is not None:
        parts.append(" ".join(p for p in (answers.recipient.relationship, answers.recipient.age_range) if p))
    return "\n".join(p for p in parts if p)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class _Snapshot:
    """A profile's answers as read, and the text and hash they give."""

    profile: TasteProfile
    text: str
    hash: str

    def is_current(self, model_name: str) -> bool:
        p = self.profile
        return p.embedding is not None and p.embedding_text_hash == self.hash and p.embedding_model == model_name


def _snapshot(profile: TasteProfile) -> _Snapshot:
    try:
        answers = parse_answers(profile.answers)
    except ValidationError as exc:
        raise PermanentJobError(f"taste profile {profile.pk} has invalid answers: {exc}") from exc
    text = taste_profile_text(answers)
    return _Snapshot(profile=profile, text=text, hash=text_hash(text))


def _checked_vectors(provider: EmbeddingProvider, texts: Sequence[str]) -> list[list[float]]:
    vectors = provider.embed(list(texts))
    for vector in vectors:
        if len(vector) != provider.dimensions or not all(math.isfinite(x) for x in vector):
            raise PermanentJobError(
                f"{provider.model_name} returned a vector of {len(vector)} dims (expected {provider.dimensions}) "
                "or with non-finite values"
            )
    return vectors


def _store(snapshot: _Snapshot, vector: list[float], model_name: str) -> bool:
    """Save the vector if the answers are still those it was made from; False if they changed."""
    updated = TasteProfile.objects.filter(pk=snapshot.profile.pk, answers=snapshot.profile.answers).update(
        embedding=vector,
        embedding_text_hash=snapshot.hash,
        embedding_model=model_name,
        embedded_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return updated == 1


def embed_taste_profile(payload: TasteProfileEmbeddingPayload) -> None:
    """Embed one taste profile; skipped when its text hash and model are unchanged.

    Answers saved while the vector is computed are seen when the vector is
    stored (it is only stored against the answers it was made from) and the
    new answers are embedded in the same job: a second job for the profile
    enqueued meanwhile was deduplicated against this one.
    """
    provider = get_embedding_provider()
    for _ in range(MAX_EMBED_ROUNDS):
        profile = TasteProfile.objects.filter(pk=payload.taste_profile_id).first()
        if profile is None:
            raise EntityNotFound(f"taste profile {payload.taste_profile_id} does not exist")
        if profile.user_id != payload.user_id:
            raise PermanentJobError(
                f"taste profile {profile.pk} belongs to user {profile.user_id}, not user {payload.user_id}"
            )
        snapshot = _snapshot(profile)
        if snapshot.is_current(provider.model_name):
            logger.info("taste profile %s embedding is current, skipped", profile.pk, extra={"outcome": "skipped"})
            return
        [vector] = _checked_vectors(provider, [snapshot.text])
        if _store(snapshot, vector, provider.model_name):
            logger.info(
                "taste profile %s embedded with %s", profile.pk, provider.model_name, extra={"outcome": "embedded"}
            )
            return
    raise TransientJobError(f"taste profile {payload.taste_profile_id} answers kept changing while being embedded")


def embed_stale_taste_profiles(
    *,
    batch_size: int,
    force: bool = False,
    dry_run: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Embed, in batches, every completed profile whose vector is missing or stale; returns how many.

    Stale means made from other answers (text hash) or by another model than
    the current provider's. `force` re-embeds every completed profile;
    `dry_run` only counts. `on_batch(n)` is called after each batch (a
    progress bar). A profile whose answers change meanwhile is left to its
    own embedding job.
    """
    check_batch_size(batch_size)
    provider = get_embedding_provider()

    def stale() -> Iterator[_Snapshot]:
        # Every completed profile is read: answers edited since their embedding
        # only show in the text hash, which is computed here, not stored.
        completed = TasteProfile.objects.filter(completed_at__isnull=False).order_by("pk")
        for profile in completed.defer("facets").iterator(chunk_size=SCAN_CHUNK_SIZE):
            try:
                snapshot = _snapshot(profile)
            except PermanentJobError as exc:
                logger.error("taste profile %s cannot be embedded: %s", profile.pk, exc, exc_info=True)
                continue
            if snapshot.text and (force or not snapshot.is_current(provider.model_name)):
                yield snapshot

    def handle(batch: list[_Snapshot]) -> int:
        if dry_run:
            done = len(batch)
        else:
            vectors = _checked_vectors(provider, [s.text for s in batch])
            done = sum(_store(s, v, provider.model_name) for s, v in zip(batch, vectors, strict=True))
        logger.info("embedded %d stale taste profiles", done, extra={"outcome": "dry_run" if dry_run else "embedded"})
        return done

    return process_in_batches(stale(), batch_size=batch_size, handle=handle, on_batch=on_batch)


def find_stale_taste_profiles(*, limit: int) -> list[TasteProfile]:
    """Up to `limit` completed profiles whose vector is missing or stale (the backfill's test), oldest id first."""
    check_batch_size(limit)
    model_name = get_embedding_provider().model_name
    found: list[TasteProfile] = []
    completed = TasteProfile.objects.filter(completed_at__isnull=False).order_by("pk").defer("facets")
    for profile in completed.iterator(chunk_size=SCAN_CHUNK_SIZE):
        try:
            snapshot = _snapshot(profile)
        except PermanentJobError:
            continue  # Its own job dead-letters it; re-enqueueing would only repeat that.
        if snapshot.text and not snapshot.is_current(model_name):
            found.append(profile)
            if len(found) >= limit:
                break
    return found
