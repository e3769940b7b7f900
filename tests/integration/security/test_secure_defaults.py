"""Secure by default: the host settings without real secrets never accept the public dev ones.

`manage.py check --deploy` runs in a subprocess on `core.settings` with only
the environment a deployment would set, as an operator would run it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from gifting_jobs.conf import DEV_WEBHOOK_SECRET
from gifting_jobs.models import Product
from gifting_jobs.webhooks import sign
from tests.conftest import ROOT, subprocess_env
from tests.integration.ingestion.cms import event

#: A production-like environment: real secrets, a real mailer, DEBUG off.
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "core.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3y-" + "7f2c9a61e0b84d5f93a1c6e2b7d08f4a5c19e3b6d2a7f0c8",
    "GIFTING_WEBHOOK_SECRET": "a-real-webhook-secret-from-the-cms",
    "EMAIL_HOST": "127.0.0.1",
}
#: Seconds a `manage.py` subprocess may take to start and answer.
SUBPROCESS_TIMEOUT = 120


def manage_py(*args: str, unset: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    """Run `manage.py` on `core.settings` with the production-like environment, changed by `env`/`unset`."""
    environment = subprocess_env(**{**PRODUCTION_ENV, **env})
    for name in unset:
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )


def python_in_settings(code: str, *, unset: tuple[str, ...] = (), **env: str) -> str:
    """Output of `code` run with `core.settings` loaded under the given environment."""
    environment = subprocess_env(**{**PRODUCTION_ENV, **env})
    for name in unset:
        environment.pop(name, None)
    script = f"import django; django.setup(); from django.conf import settings; {code}"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_check_deploy__passes_with_real_secrets(db):
    done = manage_py("check", "--deploy")

    assert done.returncode == 0, done.stderr
    assert "gifting_jobs.E03" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("env", "unset", "error"),
    [
        ({}, ("GIFTING_WEBHOOK_SECRET",), "gifting_jobs.E030) GIFTING_JOBS['WEBHOOK_SECRET'] is empty with DEBUG off"),
        (
            {"GIFTING_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET},
            (),
            "gifting_jobs.E030) GIFTING_JOBS['WEBHOOK_SECRET'] is the public",
        ),
        ({}, ("DJANGO_SECRET_KEY",), "gifting_jobs.E031) SECRET_KEY starts with 'django-insecure-'"),
    ],
    ids=["no-webhook-secret", "dev-webhook-secret", "dev-secret-key"],
)
def test_check_deploy__fails_on_a_missing_or_dev_secret(db, env, unset, error):
    done = manage_py("check", "--deploy", unset=unset, **env)

    assert done.returncode == 1
    assert error in done.stderr
    assert "SystemCheckError" in done.stderr


def test_settings__debug_is_off_and_no_dev_secret_unless_asked_for(db):
    unset = ("DJANGO_DEBUG", "GIFTING_WEBHOOK_SECRET")
    show = "print(json.dumps([settings.DEBUG, settings.GIFTING_JOBS['WEBHOOK_SECRET']]))"

    assert json.loads(python_in_settings(f"import json; {show}", unset=unset)) == [False, ""]
    asked = python_in_settings(f"import json; {show}", unset=("GIFTING_WEBHOOK_SECRET",), DJANGO_DEBUG="1")
    assert json.loads(asked) == [True, DEV_WEBHOOK_SECRET]


@pytest.mark.parametrize(
    ("debug", "secret", "expected"),
    [
        (False, "", {"gifting_jobs.E030"}),
        (False, DEV_WEBHOOK_SECRET, {"gifting_jobs.E030"}),
        (True, DEV_WEBHOOK_SECRET, set()),
        (False, "a-real-secret", set()),
    ],
)
def test_deploy_check__webhook_secret_depends_on_debug(debug, secret, expected):
    from django.core.checks import run_checks

    with override_settings(DEBUG=debug, GIFTING_JOBS={**settings.GIFTING_JOBS, "WEBHOOK_SECRET": secret}):
        ids = {message.id for message in run_checks(include_deployment_checks=True)}
        plain = {message.id for message in run_checks()}

    assert {i for i in ids if i == "gifting_jobs.E030"} == expected
    # Only `check --deploy` asks: development commands are not blocked.
    assert "gifting_jobs.E030" not in plain


def post_signed_with(client, body: dict, secret: str):
    raw = json.dumps(body).encode()
    return client.post(
        reverse("gifting_jobs:payload-products"),
        raw,
        content_type="application/json",
        HTTP_X_SIGNATURE_256=sign(raw, secret),
    )


def test_webhook__refuses_the_dev_secret_with_debug_off(db, client, caplog):
    dev = {**settings.GIFTING_JOBS, "WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}
    with override_settings(DEBUG=False, GIFTING_JOBS=dev):
        response = post_signed_with(client, event(), DEV_WEBHOOK_SECRET)

    assert response.status_code == 401
    assert response.json() == {"error": "webhook signing is not configured on this server"}
    assert not Product.objects.exists()
    assert any("public dev secret" in record.getMessage() for record in caplog.records)


def test_webhook__accepts_the_dev_secret_when_debug_is_on(db, client):
    dev = {**settings.GIFTING_JOBS, "WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}
    with override_settings(DEBUG=True, GIFTING_JOBS=dev):
        response = post_signed_with(client, event(), DEV_WEBHOOK_SECRET)

    assert response.status_code == 202
    assert Product.objects.count() == 1
