"""The plugin as a host project gets it: capture of every test by default, `real_broker` in a namespace of its own.

Runs pytest in a subprocess on a generated test module, with the plugin's
default ini (`gifting_jobs_capture = all`), as a host project would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, subprocess_env

HOST_TESTS = """
import dramatiq

from gifting_jobs.broker.inspection import namespace_keys
from gifting_jobs.dispatch import JobOutcome, enqueue
from gifting_jobs.testing import assert_enqueued

CONFIGURED_NAMESPACE = dramatiq.get_broker().namespace


def test_every_test_captures_without_asking():
    job = enqueue("test_record", {"key": "host", "triggered_by": "manual"}, {})
    assert job.outcome is JobOutcome.SENT
    assert_enqueued("test_record", key="host")
    assert namespace_keys(dramatiq.get_broker()) == []


def test_real_broker_sends_to_redis_in_its_own_namespace(real_broker):
    assert real_broker.namespace.startswith(CONFIGURED_NAMESPACE + "-test-")
    job = enqueue("test_record", {"key": "real", "triggered_by": "manual"}, {})
    assert real_broker.job_pending(job.id)
    print("NAMESPACE", real_broker.namespace)
"""


@pytest.mark.slow
def test_plugin__captures_by_default_and_real_broker_cleans_its_namespace(tmp_path: Path, broker):
    (tmp_path / "test_host.py").write_text(HOST_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = tests.settings\n")
    env = subprocess_env(PYTHONPATH=str(ROOT))

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "gifting_jobs.testing.plugin", "-q", "-s", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    namespace = re.search(r"NAMESPACE (\S+)", proc.stdout).group(1)
    assert not list(broker.client.scan_iter(match=f"{namespace}:*")), "the test's namespace was left behind"
