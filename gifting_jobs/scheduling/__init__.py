"""Periodic duties and the scheduler process that runs them (`manage.py runscheduler`).

`duties` declares the one list of duties; `leader` elects one active scheduler
with a Postgres advisory lock; `runner` runs django-apscheduler under that lock;
`pruning` holds what the retention duty deletes.
"""

from gifting_jobs.scheduling.duties import DUTIES, Daily, Duty, Every, Period, get_duty, run_duty
from gifting_jobs.scheduling.leader import LeaderLock, SchedulerSession, current_holder, scheduler_sessions
from gifting_jobs.scheduling.runner import SchedulerRunner, register_duties

__all__ = [
    "DUTIES",
    "Daily",
    "Duty",
    "Every",
    "LeaderLock",
    "Period",
    "SchedulerRunner",
    "SchedulerSession",
    "current_holder",
    "get_duty",
    "register_duties",
    "run_duty",
    "scheduler_sessions",
]
