"""Reading a scheduler's host and pid back from its holder name (the leader lock session's name)."""

from __future__ import annotations

import os
import socket

import pytest

from gifting_jobs.scheduling.duties import holder_name, parse_holder_name


@pytest.mark.parametrize(
    ("name", "host_and_pid"),
    [
        ("runscheduler@web-1.example.com:4242", ("web-1.example.com", 4242)),
        ("runscheduler@host-without-pid", ("host-without-pid", None)),
        ("runscheduler@" + "h" * 50, ("h" * 50, None)),
        ("scheduler-a", ("scheduler-a", None)),
    ],
)
def test_parse_holder_name__host_and_pid(name: str, host_and_pid: tuple[str, int | None]) -> None:
    assert parse_holder_name(name) == host_and_pid


def test_parse_holder_name__reads_back_this_process() -> None:
    assert parse_holder_name(holder_name()) == (socket.gethostname(), os.getpid())
