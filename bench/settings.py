"""Settings of the benches' worker processes: the host settings plus GIFTING_JOBS keys passed as JSON.

`GIFTING_BENCH_SETTINGS` holds the keys (a bench sets it for its workers), so a
bench can configure what core settings do not read from the environment
(`RATE_LIMITS`) without touching them.
"""

import json
import os

from core.settings import *  # noqa: F403
from core.settings import GIFTING_JOBS

GIFTING_JOBS = {**GIFTING_JOBS, **json.loads(os.environ.get("GIFTING_BENCH_SETTINGS", "{}"))}
