"""Enrichment: the taxonomy-bound value, the OpenAI structured-output provider, the factory."""

from __future__ import annotations

import json
from decimal import Decimal

import pydantic
import pytest

from gifting_jobs.exceptions import ConfigurationError, PermanentJobError, ProviderRateLimited, TransientJobError
from gifting_jobs.providers.enrichment import get_enrichment_provider
from gifting_jobs.providers.enrichment.base import Enrichment, one_line
from gifting_jobs.providers.enrichment.local import LocalEnrichmentProvider
from gifting_jobs.providers.enrichment.openai import OpenAIEnrichmentProvider
from gifting_jobs.providers.enrichment.test import RecordingEnrichmentProvider
from gifting_jobs.taxonomy import OCCASION_SLUGS, RECIPIENT_SLUGS, TAG_SLUGS
from tests.fake_openai import RATE_LIMITED, Answer

COFFEE_TEXT = "Ethiopian coffee beans\nAcme Roasters\nWhole bean coffee, light roast. Roasted weekly."


def test_enrichment__accepts_taxonomy_slugs_and_dedupes():
    enrichment = Enrichment(
        tags=("coffee", "gourmet", "coffee"),
        occasions=("birthday",),
        recipient_types=("friend",),
        price_band="mid",
        summary="  Fresh beans,\n roasted weekly. ",
    )

    assert enrichment.tags == ("coffee", "gourmet")
    assert enrichment.summary == "Fresh beans, roasted weekly."
    assert enrichment.model_dump(mode="json")["tags"] == ["coffee", "gourmet"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tags", ("coffee", "spaceships"), "tags outside the taxonomy: spaceships"),
        ("tags", (), "at least 1 item"),
        ("tags", tuple(sorted(TAG_SLUGS))[:9], "at most 8 items"),
        ("occasions", ("halloween",), "occasions outside the taxonomy: halloween"),
        ("recipient_types", ("boss",), "recipient types outside the taxonomy: boss"),
        ("price_band", "cheap", "price band 'cheap' outside the taxonomy"),
        ("summary", "x" * 201, "at most 200 characters"),
    ],
)
def test_enrichment__rejects_values_outside_the_taxonomy(field, value, message):
    fields = {"tags": ("coffee",), field: value}

    with pytest.raises(pydantic.ValidationError, match=message):
        Enrichment(**fields)


def test_enrichment__is_frozen():
    enrichment = Enrichment(tags=("coffee",))

    with pytest.raises(pydantic.ValidationError):
        enrichment.tags = ("tea",)


def test_one_line__cuts_at_a_word_boundary():
    line = one_line("word " * 100, limit=30)

    assert len(line) <= 30
    assert line.endswith("…")
    assert "  " not in line and "\n" not in line


def test_openai_enrichment__parses_structured_output(openai_enrichment, fake_openai):
    provider = openai_enrichment(ENRICHMENT_MODEL="gpt-4o-mini")

    enrichment = provider.enrich(COFFEE_TEXT, price=Decimal("18.50"))

    # The fake model picks the enum values the product text names.
    assert enrichment.tags == ("coffee",)
    assert enrichment.price_band == "budget"
    assert set(enrichment.occasions) <= OCCASION_SLUGS and set(enrichment.recipient_types) <= RECIPIENT_SLUGS
    (request,) = fake_openai.requests_to("chat")
    assert request.body["model"] == "gpt-4o-mini"
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    schema_text = json.dumps(response_format["json_schema"]["schema"])
    assert all(slug in schema_text for slug in TAG_SLUGS)
    system, user = request.body["messages"]
    assert "coffee: Coffee lovers" in system["content"] and "housewarming" in system["content"]
    assert "Ethiopian coffee beans" in user["content"] and "Price: 18.50" in user["content"]


def test_openai_enrichment__keeps_eight_tags_and_one_line_summary(openai_enrichment, fake_openai):
    provider = openai_enrichment()
    tags = sorted(TAG_SLUGS)[:10]
    fake_openai.script(
        "chat",
        Answer({"tags": tags, "occasions": ["birthday"], "recipient_types": [], "summary": "Long.\n" + "word " * 80}),
    )

    enrichment = provider.enrich(COFFEE_TEXT, price=None)

    assert enrichment.tags == tuple(tags[:8])
    assert enrichment.price_band is None
    assert len(enrichment.summary) <= 200 and "\n" not in enrichment.summary


def test_openai_enrichment__tag_outside_the_taxonomy_is_permanent(openai_enrichment, fake_openai):
    provider = openai_enrichment()
    fake_openai.script(
        "chat", Answer({"tags": ["coffee", "rocket-science"], "occasions": [], "recipient_types": [], "summary": "x"})
    )

    with pytest.raises(PermanentJobError, match="does not fit the expected schema"):
        provider.enrich(COFFEE_TEXT, price=None)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (Answer(refusal="I can't help with that."), "refused"),
        (Answer("not json at all"), "does not fit the expected schema"),
        (Answer({"tags": [], "occasions": [], "recipient_types": [], "summary": "x"}), "not a valid enrichment"),
        (Answer({"tags": ["coffee"]}, finish_reason="length"), "cut off or filtered"),
    ],
)
def test_openai_enrichment__unusable_answers_are_permanent(openai_enrichment, fake_openai, answer, message):
    provider = openai_enrichment()
    fake_openai.script("chat", answer)

    with pytest.raises(PermanentJobError, match=message):
        provider.enrich(COFFEE_TEXT, price=None)


def test_openai_enrichment__rate_limit_is_transient(openai_enrichment, fake_openai):
    provider = openai_enrichment()
    fake_openai.script("chat", RATE_LIMITED)

    with pytest.raises(TransientJobError) as caught:
        provider.enrich(COFFEE_TEXT, price=None)

    # A rate limit: the job snoozes for the Retry-After (plus a small spread), the answer's hint is kept as the cause.
    assert isinstance(caught.value, ProviderRateLimited) and caught.value.__cause__.retry_after == 1.0
    assert 1.0 <= caught.value.retry_after <= 1.1
    assert len(fake_openai.requests_to("chat")) == 1


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("local", LocalEnrichmentProvider),
        ("test", RecordingEnrichmentProvider),
        ("gifting_jobs.providers.enrichment.test.RecordingEnrichmentProvider", RecordingEnrichmentProvider),
    ],
)
def test_get_enrichment_provider__resolves_aliases_and_dotted_paths(settings, name, expected):
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "ENRICHMENT_PROVIDER": name}

    provider = get_enrichment_provider()

    assert type(provider) is expected
    assert get_enrichment_provider() is provider  # Built once per settings.


def test_get_enrichment_provider__openai_alias(settings, fake_openai):
    from tests.fake_openai import openai_settings

    settings.GIFTING_JOBS = openai_settings(fake_openai, settings.GIFTING_JOBS)

    assert type(get_enrichment_provider()) is OpenAIEnrichmentProvider


def test_get_enrichment_provider__unknown_path_names_the_choices(settings):
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "ENRICHMENT_PROVIDER": "gifting_jobs.nowhere.Provider"}

    with pytest.raises(ConfigurationError, match="use one of 'local', 'openai', 'test' or the dotted path of a class"):
        get_enrichment_provider()


def test_recording_enrichment__records_calls_and_tags_by_keyword():
    provider = RecordingEnrichmentProvider()

    enrichment = provider.enrich("Coffee and tea set for a birthday", price=Decimal("80"), description="Set.")

    assert enrichment.tags == ("coffee", "tea")
    assert enrichment.occasions == ("birthday",)
    assert enrichment.price_band == "premium"
    assert [call.text for call in provider.calls] == ["Coffee and tea set for a birthday"]
