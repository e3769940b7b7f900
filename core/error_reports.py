"""Error reports (the DEBUG 500 page, admin error emails) that never show a password inside a URL.

Django hides settings whose *names* look secret; `DATABASE_URL`, `REDIS_URL`
and the WSGI environment carry credentials inside values, so those are masked too.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

#: `scheme://user:password@host`: the password part.
URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^\s:/@]*:)[^\s@]+@")
#: libpq's `password=...` in a conninfo string.
CONNINFO_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?:'[^']*'|\S+)", re.IGNORECASE)


class CredentialsHidingFilter(SafeExceptionReporterFilter):
    """Django's filter, plus passwords masked inside any text value and in traceback variables."""

    def mask(self, text: str) -> str:
        """`text` with every URL or conninfo password replaced by the filter's substitute."""
        text = URL_PASSWORD.sub(lambda m: f"{m['head']}{self.cleansed_substitute}@", text)
        return CONNINFO_PASSWORD.sub(lambda m: f"{m['head']}{self.cleansed_substitute}", text)

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return self.mask(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [
            (name, self.cleanse_setting(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
