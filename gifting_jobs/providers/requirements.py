"""What a provider class needs installed, and the error that names the install line.

A provider declares `required_modules` and, when they come from an optional
dependency of this package, the `extra` that installs them. A missing module is
a configuration error (reported by `manage.py check` and raised before any
work), never an ImportError in a job that would be retried.
"""

from __future__ import annotations

import difflib
import importlib.util

from django.utils.module_loading import import_string

from gifting_jobs.exceptions import ConfigurationError

#: The distribution name users install.
DISTRIBUTION = "gifting-jobs"


def install_line(extra: str | None, modules: tuple[str, ...]) -> str:
    """The exact command that installs what is missing."""
    if extra:
        return f'pip install "{DISTRIBUTION}[{extra}]"'
    return "pip install " + " ".join(modules)


def missing_modules(provider_class: type) -> tuple[str, ...]:
    """The modules `provider_class` declares in `required_modules` that cannot be found."""
    return tuple(
        name for name in getattr(provider_class, "required_modules", ()) if importlib.util.find_spec(name) is None
    )


def resolve_provider_class(setting: str, value: str, aliases: dict[str, str]) -> type:
    """The class a provider setting names (an alias or a dotted path), with its requirements installed.

    Raises `ConfigurationError` naming the fix: the alias meant ("did you mean"),
    or the `pip install` line of the extra that brings a missing module.
    """
    path = aliases.get(value, value)
    if "." not in path:
        guess = difflib.get_close_matches(value, list(aliases), n=1)
        hint = (
            f"did you mean {guess[0]!r}?" if guess else f"use one of {', '.join(map(repr, aliases))} or a dotted path"
        )
        raise ConfigurationError(f"GIFTING_JOBS[{setting!r}] = {value!r} is not a provider: {hint}")
    try:
        provider_class = import_string(path)
    except ImportError as exc:
        raise ConfigurationError(
            f"GIFTING_JOBS[{setting!r}] = {value!r} cannot be imported ({exc}); "
            f"use one of {', '.join(map(repr, aliases))} or the dotted path of a class"
        ) from None
    if not isinstance(provider_class, type):
        raise ConfigurationError(f"GIFTING_JOBS[{setting!r}] = {value!r} is not a class")
    missing = missing_modules(provider_class)
    if missing:
        line = install_line(getattr(provider_class, "extra", None), missing)
        raise ConfigurationError(
            f"GIFTING_JOBS[{setting!r}] = {value!r} needs {', '.join(missing)}, which is not installed: run `{line}`"
        )
    return provider_class
