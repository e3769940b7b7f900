"""`manage.py resume_queue QUEUE ...`: workers fetch from these paused logical queues again."""

from __future__ import annotations

from gifting_jobs.management.queue_switch import QueueSwitchCommand
from gifting_jobs.queue_control import resume_queue


class Command(QueueSwitchCommand):
    help = "Resume paused logical queues: workers fetch from them again within about a second."
    switch = staticmethod(resume_queue)
    changed_text, unchanged_text = "resumed", "was not paused"
