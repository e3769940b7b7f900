"""Testing a project that enqueues jobs: capture instead of Redis, assertions, inline runs.

pytest: the plugin (`gifting_jobs.testing.plugin`, loaded through its `pytest11`
entry point) gives the `jobs` fixture and captures every test's jobs when
`gifting_jobs_capture = all` is set in the pytest ini. unittest: `JobsTestMixin`.
Anywhere: `with capture_jobs() as jobs: ...`. The module-level helpers act on
the innermost capture installed.

Names load lazily: the pytest plugin imports this package before Django is set up.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Where each public name lives.
_EXPORTS = {
    "CaptureError": "capture",
    "CapturedJob": "capture",
    "JobCapture": "capture",
    "assert_enqueued": "capture",
    "capture_jobs": "capture",
    "current_capture": "capture",
    "drain_jobs": "capture",
    "enqueued_jobs": "capture",
    "perform_job": "capture",
    "refute_enqueued": "capture",
    "JobsTestMixin": "mixins",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gifting_jobs.testing' has no attribute {name!r}")
    return getattr(import_module(f"gifting_jobs.testing.{module}"), name)
