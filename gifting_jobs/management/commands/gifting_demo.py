"""`manage.py gifting_demo [--timeout SECONDS] [--products N]`: the end-to-end demo (`make demo`).

Loads the demo catalog through the signed CMS webhook, processes it with a
real Dramatiq worker started in this process, then completes three taste
profiles and shows their recommendations, builds today's collections and
sends the nearest reminder of an occasion. It uses the configured broker
namespace (`DRAMATIQ_NAMESPACE`, "gifting" by default) and waits on its own
rows, never on empty queues. Exits non-zero when a step times out or fails.
Job logs are quiet unless `--verbosity 2`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gifting_jobs.demo import data
from gifting_jobs.demo.runner import DEFAULT_TIMEOUT_SECONDS, DemoFailed, DemoOptions, run_demo
from gifting_jobs.exceptions import GiftingJobsError

#: Longest accepted --timeout: an hour per wait is already far beyond a healthy run.
MAX_TIMEOUT_SECONDS = 3600.0
#: Loggers quieted to WARNING during the run unless --verbosity 2 or more.
QUIET_LOGGERS = ("gifting_jobs",)
#: Verbosity from which job logs (INFO) are shown.
VERBOSE = 2


@contextmanager
def quiet_logs(*, enabled: bool) -> Iterator[None]:
    """Raise the app's loggers to WARNING for the run (a line per job would bury the report), then restore them."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(logging.WARNING, lg.level))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def check_timeout(value: Any) -> float:
    """--timeout as seconds in (0, MAX_TIMEOUT_SECONDS], or a `CommandError` naming the fix."""
    if isinstance(value, bool):
        raise CommandError(f"--timeout must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise CommandError(f"--timeout must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise CommandError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds, got {value!r}")
    return seconds


def check_products(value: Any) -> int | None:
    """--products as a count in 1..the catalog size (None: all), or a `CommandError` naming the fix."""
    available = len(data.catalog())
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise CommandError(f"--products must be a whole number between 1 and {available}, got {value!r}")
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise CommandError(f"--products must be a whole number between 1 and {available}, got {value!r}") from None
    if not 1 <= count <= available:
        raise CommandError(f"--products must be between 1 and {available} (the demo catalog's size), got {value!r}")
    return count


class Command(BaseCommand):
    help = (
        "Run the end-to-end demo: load the demo catalog through the signed CMS webhook, process it with an "
        "in-process Dramatiq worker, then show recommendations for three taste profiles, today's curated "
        "collections and a reminder sent through the console backends."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            default=DEFAULT_TIMEOUT_SECONDS,
            help=f"Seconds each wait may take before the demo fails (default {DEFAULT_TIMEOUT_SECONDS:g}, "
            f"at most {MAX_TIMEOUT_SECONDS:g}).",
        )
        parser.add_argument(
            "--products",
            default=None,
            help=f"Load only the first N demo products (1..{len(data.catalog())}; default all). "
            "The first ones span the gift taxonomy.",
        )

    def handle(self, *args: Any, timeout: Any, products: Any, verbosity: int = 1, **options: Any) -> None:
        demo_options = DemoOptions(timeout=check_timeout(timeout), products=check_products(products))
        try:
            with quiet_logs(enabled=verbosity < VERBOSE):
                result = run_demo(demo_options, write=self.stdout.write)
        except DemoFailed as exc:
            raise CommandError(f"demo failed: {exc}") from exc
        except GiftingJobsError as exc:
            # A service refused the demo's input or configuration: say which, do not dump a traceback.
            raise CommandError(f"demo failed: {type(exc).__name__}: {exc}") from exc
        if not result.ok:
            raise CommandError(f"demo finished with {len(result.problems)} problem(s): " + "; ".join(result.problems))
        self.stdout.write(self.style.SUCCESS(f"Demo complete in {result.seconds:.1f} s."))
