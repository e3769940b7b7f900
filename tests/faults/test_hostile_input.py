"""Hostile input and insecure defaults, as rows of the fault table.

The webhook gets the issue's known hostile bodies plus 3,000 seeded fuzzed
ones through the real view and middleware; the verdict is no 500 and no
stored row that Django can no longer read, update or delete. The defaults
are probed as an operator would deploy them: `manage.py check --deploy`
without real secrets, and the webhook signed with the public dev secret.
"""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from gifting_jobs.conf import DEV_WEBHOOK_SECRET
from gifting_jobs.models import Product
from gifting_jobs.webhooks import sign
from tests.fuzz.webhook_bodies import fuzzed_bodies, known_hostile_bodies
from tests.integration.ingestion.cms import event
from tests.integration.ingestion.test_webhook_fuzz import (
    FUZZ_SEED,
    assert_every_product_readable_and_updatable,
    post_signed,
)
from tests.integration.security.test_secure_defaults import manage_py

pytestmark = pytest.mark.faults

#: Bodies of the fuzzed run (the issue's attack sent 3,000).
FUZZ_COUNT = 3000
UNAUTHORIZED = 401


def test_webhook__hostile_and_fuzzed_bodies_never_answer_500(transactional_db, fault_row):
    client = Client(raise_request_exception=False)
    bodies = [*known_hostile_bodies(), *fuzzed_bodies(FUZZ_SEED, FUZZ_COUNT)]
    started = time.monotonic()
    statuses = [post_signed(client, case.body).status_code for case in bodies]
    server_errors = sum(status >= 500 for status in statuses)
    accepted = statuses.count(202)
    unreadable = 0
    try:
        assert_every_product_readable_and_updatable(client)
    except AssertionError:
        unreadable = 1
    passed = server_errors == 0 and unreadable == 0 and set(statuses) <= {202, 400}
    fault_row(
        scenario=f"Webhook: {len(bodies) - FUZZ_COUNT} known hostile + {FUZZ_COUNT} fuzzed signed bodies (seed {FUZZ_SEED})",
        sent=len(bodies),
        ran=accepted,
        lost=0,
        ran_twice=0,
        recovery=f"{time.monotonic() - started:.1f} s for all",
        passed=passed,
        note=f"{server_errors} answers 500, {len(bodies) - accepted} refused with 400; every stored row read, saved and deleted again"
        if not unreadable
        else "a stored row could not be read back",
    )
    assert server_errors == 0
    assert unreadable == 0
    assert set(statuses) <= {202, 400}


def test_insecure_defaults__refused_without_real_secrets(db, fault_row):
    probes = {
        "no webhook secret": manage_py("check", "--deploy", unset=("GIFTING_WEBHOOK_SECRET",)),
        "dev webhook secret": manage_py("check", "--deploy", GIFTING_WEBHOOK_SECRET=DEV_WEBHOOK_SECRET),
        "dev SECRET_KEY": manage_py("check", "--deploy", unset=("DJANGO_SECRET_KEY",)),
    }
    refused = {name for name, done in probes.items() if done.returncode != 0 and "SystemCheckError" in done.stderr}
    raw = json.dumps(event("product.created", id="insecure-probe")).encode()
    with override_settings(DEBUG=False, GIFTING_JOBS={**settings.GIFTING_JOBS, "WEBHOOK_SECRET": DEV_WEBHOOK_SECRET}):
        response = Client().post(
            reverse("gifting_jobs:payload-products"),
            raw,
            content_type="application/json",
            HTTP_X_SIGNATURE_256=sign(raw, DEV_WEBHOOK_SECRET),
        )
    webhook_refused = (
        response.status_code == UNAUTHORIZED and not Product.objects.filter(external_id="insecure-probe").exists()
    )
    passed = refused == set(probes) and webhook_refused
    fault_row(
        scenario="Insecure defaults: check --deploy without real secrets; webhook signed with the dev secret, DEBUG off",
        sent=len(probes) + 1,
        ran=len(refused) + webhook_refused,
        lost=0,
        ran_twice=0,
        recovery="-",
        passed=passed,
        note=f"check --deploy failed for {len(refused)} of {len(probes)}; dev-signed webhook answered {response.status_code}",
    )
    assert refused == set(probes)
    assert webhook_refused
