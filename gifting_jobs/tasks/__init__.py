"""Django's task API (`django.tasks`) on the gifting_jobs spine.

`TASKS = {"default": {"BACKEND": "gifting_jobs.tasks.backend.SpineTaskBackend",
"QUEUES": ["default"], "OPTIONS": {}}}`; see the README section "django.tasks
on the spine". `backend` holds the backend and its task class, `results` the
Postgres result store, `work` what the worker runs.
"""
