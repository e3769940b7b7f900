"""The run-alone gate: a quarantined job waits for running jobs, and new jobs wait for it."""

from __future__ import annotations

import threading

from gifting_jobs.middleware.run_alone import RunAloneGate
from tests.conftest import wait_until


def test_gate__alone_waits_for_shared_and_blocks_new_shared():
    gate = RunAloneGate(max_wait=10)
    gate.enter(alone=False)  # A normal job runs on this thread.
    events: list[str] = []

    def quarantined() -> None:
        gate.enter(alone=True)
        events.append("alone in")
        release.wait(10)
        events.append("alone out")
        gate.leave()

    def newcomer() -> None:
        gate.enter(alone=False)
        events.append("newcomer in")
        gate.leave()

    release = threading.Event()
    alone = threading.Thread(target=quarantined)
    alone.start()
    wait_until(lambda: gate._writers_waiting == 1, what="the quarantined job to wait")
    late = threading.Thread(target=newcomer)
    late.start()
    assert events == []
    gate.leave()  # The normal job ends: the quarantined one runs, alone.
    wait_until(lambda: events == ["alone in"], what="the quarantined job to start")
    release.set()
    alone.join(10)
    late.join(10)
    assert events == ["alone in", "alone out", "newcomer in"]


def test_gate__waits_are_bounded_and_leave_is_idempotent():
    gate = RunAloneGate(max_wait=0.05)
    gate.enter(alone=False)
    holder = threading.Thread(target=lambda: (gate.enter(alone=True), gate.leave()))
    holder.start()
    holder.join(5)
    assert not holder.is_alive()  # It ran anyway after max_wait.
    gate.leave()
    gate.leave()
    assert gate._shared == 0 and not gate._exclusive
