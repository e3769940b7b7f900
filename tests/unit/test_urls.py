"""A host project includes gifting_jobs' URLs all at once or only some, under one namespace."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import NoReverseMatch, include, path, reverse

from gifting_jobs import urls as gifting_urls
from gifting_jobs.exceptions import ConfigurationError

# This module is the URLconf of the tests below: only the webhook and metrics, under a prefix.
urlpatterns = [path("hooks/", include(gifting_urls.parts("webhook", "metrics")))]


@override_settings(ROOT_URLCONF=__name__)
def test_parts__only_the_named_groups_are_routed_in_the_namespace():
    assert reverse("gifting_jobs:payload-products") == "/hooks/webhooks/payload/products/"
    assert reverse("gifting_jobs:metrics") == "/hooks/metrics/jobs/"
    with pytest.raises(NoReverseMatch):
        reverse("gifting_jobs:api-recommendations")


def test_parts__every_group_together_is_the_whole_app():
    patterns, namespace = gifting_urls.parts(*gifting_urls.PARTS)
    assert namespace == "gifting_jobs" and patterns == gifting_urls.urlpatterns


def test_parts__an_unknown_group_suggests_the_name():
    with pytest.raises(ConfigurationError, match="unknown part 'webhooks', did you mean 'webhook'"):
        gifting_urls.parts("webhooks")
