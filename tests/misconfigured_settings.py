"""The test settings with one mistake a host project makes, chosen by `GIFTING_MISCONFIGURATION`.

`manage.py check` runs on it in a subprocess: the command must start and name
the fix, never crash at start-up.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DRAMATIQ_BROKER, GIFTING_JOBS, INSTALLED_APPS

_mistake = os.environ["GIFTING_MISCONFIGURATION"]

if _mistake == "no_django_dramatiq":
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django_dramatiq"]
elif _mistake == "no_time_limit":
    DRAMATIQ_BROKER = {
        **DRAMATIQ_BROKER,
        "MIDDLEWARE": [m for m in DRAMATIQ_BROKER["MIDDLEWARE"] if m != "dramatiq.middleware.TimeLimit"],
    }
elif _mistake == "unknown_key":
    GIFTING_JOBS = {**GIFTING_JOBS, "EMBEDING_PROVIDER": "local"}
elif _mistake == "nested_typo":
    GIFTING_JOBS = {**GIFTING_JOBS, "JOBS": {"product_embedding": {"atempts": 3}}}
else:
    raise ValueError(f"unknown GIFTING_MISCONFIGURATION {_mistake!r}")
