"""`manage.py pause_queue QUEUE ...`: workers stop fetching from these logical queues (all bands)."""

from __future__ import annotations

from gifting_jobs.management.queue_switch import QueueSwitchCommand
from gifting_jobs.queue_control import pause_queue


class Command(QueueSwitchCommand):
    help = "Pause logical queues: workers stop fetching from them and finish what they hold. Undo with resume_queue."
    switch = staticmethod(pause_queue)
    changed_text, unchanged_text = "paused", "was paused already"
