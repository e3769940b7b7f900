"""`manage.py backfill_embeddings`: bring every stored vector up to date, in batches, with a progress bar.

A row is stale when it has no vector, when its text changed since it was
embedded, or when its vector was made by another model than the configured
provider's (`embedding_model` differs from `model_name`): after a change of
EMBEDDING_PROVIDER, EMBEDDING_MODEL or EMBEDDING_DIMENSIONS, this one command
re-embeds everything made by the old model. Work runs in this process,
directly against the provider (not through the broker), so a mass re-embed
does not flood the queues that serve users. A second run resumes where an
interrupted one stopped: rows already done are no longer stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from gifting_jobs.exceptions import ConfigurationError, JobError
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.work.products import embed_stale_products
from gifting_jobs.work.profiles import embed_stale_taste_profiles

#: Rows loaded, embedded and written together.
DEFAULT_BATCH_SIZE = 256
#: Largest accepted --batch-size (a batch is held in memory with its vectors).
MAX_BATCH_SIZE = 10_000


class EmbedStale(Protocol):
    """Embed the stale rows of one kind in batches; with `dry_run`, only count them. Returns how many."""

    def __call__(
        self,
        *,
        batch_size: int,
        force: bool = False,
        dry_run: bool = False,
        on_batch: Callable[[int], None] | None = None,
    ) -> int: ...


@dataclass(frozen=True)
class EmbeddingKind:
    """One family of embedded rows the command keeps up to date: a name and its `EmbedStale` function."""

    name: str
    embed_stale: EmbedStale


#: Every kind the command handles, in order: products and taste profiles share
#: one vector space, so a change of model re-embeds both.
KINDS: tuple[EmbeddingKind, ...] = (
    EmbeddingKind("products", embed_stale_products),
    EmbeddingKind("taste profiles", embed_stale_taste_profiles),
)


class Command(BaseCommand):
    help = (
        "Embed every row whose vector is missing, made from an older text, or made by another model "
        "than the configured provider's; --all re-embeds everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", dest="everything", help="Re-embed every row, stale or not.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Rows embedded and written together (1..{MAX_BATCH_SIZE}, default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count the rows that would be embedded.")

    def handle(self, *args: Any, everything: bool, batch_size: Any, dry_run: bool, **options: Any) -> None:
        batch_size = self._check_batch_size(batch_size)
        try:
            provider = get_embedding_provider()
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"embedding model: {provider.model_name}")
        for kind in KINDS:
            pending = kind.embed_stale(batch_size=batch_size, force=everything, dry_run=True)
            self.stdout.write(f"{kind.name}: {pending} {'to re-embed' if everything else 'stale'}")
            if dry_run or not pending:
                continue
            done = self._backfill(kind, pending, batch_size=batch_size, everything=everything)
            left = pending - done
            note = f" ({left} changed or deleted meanwhile, left to their own jobs)" if left > 0 else ""
            self.stdout.write(self.style.SUCCESS(f"{kind.name}: {done} embedded{note}"))

    @staticmethod
    def _check_batch_size(value: Any) -> int:
        if isinstance(value, bool):
            raise CommandError(f"--batch-size must be a whole number, got {value!r}")
        try:
            size = int(value)
        except (TypeError, ValueError):
            raise CommandError(f"--batch-size must be a whole number, got {value!r}") from None
        if not 1 <= size <= MAX_BATCH_SIZE:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH_SIZE}, got {value!r}")
        return size

    def _backfill(self, kind: EmbeddingKind, pending: int, *, batch_size: int, everything: bool) -> int:
        progress = 0
        # tqdm redraws with "\r": it needs the raw stream, not Django's line-ending OutputWrapper.
        with tqdm(total=pending, unit="row", desc=kind.name, file=self.stderr._out) as bar:

            def advance(rows: int) -> None:
                nonlocal progress
                progress += rows
                bar.update(rows)

            try:
                return kind.embed_stale(batch_size=batch_size, force=everything, on_batch=advance)
            except JobError as exc:
                # Batches already written stay written: the rows still stale are found again.
                raise CommandError(
                    f"{kind.name}: stopped after {progress} of {pending} rows ({exc}); "
                    "run the command again to resume with the rows still stale"
                ) from exc
