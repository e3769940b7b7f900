"""`manage.py runscheduler` options, in process (the running scheduler is tested in tests/e2e)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tick-seconds", "0"], "--tick-seconds must be in 1..86400, got 0"),
        (["--tick-seconds", "100000"], "--tick-seconds must be in 1..86400, got 100000"),
        (["--poll-seconds", "0"], "--poll-seconds must be in (0, 300.0], got 0.0"),
        (["--poll-seconds", "-1"], "--poll-seconds must be in (0, 300.0], got -1.0"),
    ],
)
def test_runscheduler__bad_options_are_clear_errors(args, message):
    with pytest.raises(CommandError) as raised:
        call_command("runscheduler", *args)
    assert str(raised.value) == message


def test_runscheduler__list_prints_every_duty_and_its_schedule(capsys):
    call_command("runscheduler", "--list")

    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["daily_curated_collections", "reminder_sweep", "prune", "reconcile"]
    assert "daily at 02:00 UTC" in out[0] and "every 60 s" in out[1] and "daily at 03:30 UTC" in out[2]
    assert "every 3600 s" in out[3]


def test_runscheduler__list_shows_a_forced_tick(capsys):
    call_command("runscheduler", "--list", "--tick-seconds", "2")

    assert all("every 2 s" in line for line in capsys.readouterr().out.splitlines())
