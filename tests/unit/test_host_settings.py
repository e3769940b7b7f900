"""`gifting_jobs.settings`: the lines a host project's settings take from the library."""

from __future__ import annotations

import pytest
from django.conf import settings

from gifting_jobs import settings as gifting_settings


def test_dramatiq_broker__is_complete_and_ordered():
    broker = gifting_settings.dramatiq_broker("redis://127.0.0.1:6379/3", namespace="shop")
    assert broker["BROKER"] == "gifting_jobs.broker.RedisBroker"
    assert broker["MIDDLEWARE"][:3] == [
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.ShutdownNotifications",
        "django_dramatiq.middleware.DbConnectionsMiddleware",
    ]
    assert broker["MIDDLEWARE"][-1] == "gifting_jobs.middleware.Relay"
    assert "dramatiq.middleware.Retries" not in broker["MIDDLEWARE"]
    assert broker["OPTIONS"]["url"] == "redis://127.0.0.1:6379/3" and broker["OPTIONS"]["namespace"] == "shop"


def test_dramatiq_broker__extra_middleware_comes_after_ours():
    broker = gifting_settings.dramatiq_broker("redis://x", extra_middleware=["dramatiq.middleware.AgeLimit"])
    assert broker["MIDDLEWARE"] == [*gifting_settings.MIDDLEWARE, "dramatiq.middleware.AgeLimit"]


def test_the_repo_settings_use_the_same_entry_point():
    assert settings.DRAMATIQ_BROKER["MIDDLEWARE"] == list(gifting_settings.MIDDLEWARE)
    assert settings.INSTALLED_APPS[0] == "django_dramatiq"
    assert set(gifting_settings.REQUIRED_APPS) <= set(settings.INSTALLED_APPS)


def test_installed_apps__django_dramatiq_first_and_nothing_twice():
    apps = gifting_settings.installed_apps(["django.contrib.admin", "django_dramatiq", "gifting_jobs", "shop"])
    assert apps == [
        "django_dramatiq",
        "django.contrib.admin",
        "gifting_jobs",
        "shop",
        "django.contrib.postgres",
        "django_apscheduler",
    ]


def test_database_from_url__socket_dir_and_tcp():
    socket = gifting_settings.database_from_url("postgresql://postgres:@/shop?host=/run/pg&sslmode=disable")
    assert (socket["NAME"], socket["HOST"], socket["OPTIONS"]) == ("shop", "/run/pg", {"sslmode": "disable"})
    tcp = gifting_settings.database_from_url("postgres://u:p%40ss@db:5433/gifting", conn_max_age=0)
    assert (tcp["USER"], tcp["PASSWORD"], tcp["HOST"], tcp["PORT"], tcp["CONN_MAX_AGE"]) == (
        "u",
        "p@ss",
        "db",
        "5433",
        0,
    )


def test_database_from_url__other_schemes_are_refused():
    with pytest.raises(ValueError, match="postgres://"):
        gifting_settings.database_from_url("sqlite:///db.sqlite3")
