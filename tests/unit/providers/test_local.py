"""The offline providers: MiniLM and wordllama embeddings (no network) and zero-shot enrichment."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import numpy as np
import pytest

from gifting_jobs.exceptions import ConfigurationError
from gifting_jobs.providers.embeddings import get_embedding_provider
from gifting_jobs.providers.embeddings.minilm import MiniLMEmbeddingProvider
from gifting_jobs.providers.embeddings.test import RecordingEmbeddingProvider
from gifting_jobs.providers.embeddings.wordllama import WordLlamaEmbeddingProvider
from gifting_jobs.providers.enrichment.local import LocalEnrichmentProvider, ZeroShotRule, summarize
from gifting_jobs.taxonomy import GIFT_TAGS
from tests.conftest import ROOT

COFFEE = "Ethiopian single-origin coffee beans\nAcme Roasters\nWhole bean coffee, light roast. Roasted every week."
HIKING = "Trail Pro 40L hiking backpack\nSummit\nA light backpack for day hikes and camping trips, with a rain cover."


@pytest.fixture(scope="module")
def local_enrichment() -> LocalEnrichmentProvider:
    return LocalEnrichmentProvider()


#: The first values of `embed(["a scented candle"])` when the relevance figures were measured.
CANDLE_VECTOR_START = (-0.0070444, -0.0145325, -0.0011043)


@pytest.mark.parametrize(
    ("provider_class", "model_name"),
    [
        (MiniLMEmbeddingProvider, "minilm-l6-int8-onnx:rp256"),
        (WordLlamaEmbeddingProvider, "wordllama:l2_supercat:256"),
    ],
)
def test_offline_embeddings__deterministic_unit_vectors(provider_class, model_name):
    provider = provider_class()

    first = provider.embed(["a scented candle", "a chess set"])
    second = provider.embed(["a scented candle", "a chess set"])

    assert provider.model_name == model_name
    assert first == second
    assert [len(v) for v in first] == [256, 256]
    assert [np.linalg.norm(v) for v in first] == pytest.approx([1.0, 1.0])
    assert provider.embed([]) == []


def test_minilm_embeddings__same_vectors_as_when_measured_alone_or_batched():
    provider = MiniLMEmbeddingProvider()
    texts = [f"gift number {n}, {'with a longer description ' * (n % 7)}" for n in range(70)]

    batched = provider.embed(["a scented candle", *texts])
    alone = provider.embed(["a scented candle"])

    # The vector space behind the model name has not moved (tokenizer, pooling, projection)
    assert alone[0][:3] == pytest.approx(CANDLE_VECTOR_START, abs=1e-6)
    # And a text's vector does not depend on the texts batched with it (padding, runs of 64)
    assert np.allclose(batched[0], alone[0], atol=1e-6)
    assert np.allclose(batched[-1], provider.embed([texts[-1]])[0], atol=1e-6)


def test_minilm_embeddings__worker_threads_share_one_session_and_get_the_same_vectors():
    provider = MiniLMEmbeddingProvider()
    texts = [f"a gift for someone who loves {hobby}" for hobby in ("tea", "chess", "hiking", "jazz")]
    serial = [provider.embed([text]) for text in texts * 4]

    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda text: provider.embed([text]), texts * 4))

    assert threaded == serial


@pytest.mark.parametrize(
    ("text", "related", "unrelated"),
    [("craft beer", "homebrew kit", "a wool scarf"), ("bouldering", "climbing chalk bag", "a scented candle")],
)
def test_minilm_embeddings__relates_what_wordllama_relates_weakly(text, related, unrelated):
    # WordLlama: 0.19 vs -0.02 and 0.14 vs -0.01; MiniLM 0.61 vs 0.16 and 0.45 vs 0.04.
    vector, close, far = MiniLMEmbeddingProvider().embed([text, related, unrelated])

    assert np.dot(vector, close) > np.dot(vector, far) + 0.3


@pytest.mark.parametrize("provider_class", [MiniLMEmbeddingProvider, WordLlamaEmbeddingProvider])
def test_offline_embeddings__other_dimensions_are_refused_with_the_fix(provider_class):
    with pytest.raises(ConfigurationError, match="use EMBEDDING_PROVIDER 'openai' or set it to 256"):
        provider_class(dimensions=384)


@pytest.mark.slow
@pytest.mark.parametrize("provider_class", [MiniLMEmbeddingProvider, WordLlamaEmbeddingProvider])
def test_offline_embeddings__load_without_any_network(provider_class):
    # Given a Python where opening any socket connection raises.
    script = textwrap.dedent(
        f"""
        import json, socket

        def no_network(*args, **kwargs):
            raise OSError("network access attempted")

        socket.socket.connect = no_network
        socket.socket.connect_ex = no_network
        socket.create_connection = no_network
        socket.getaddrinfo = no_network
        try:
            socket.socket().connect(("127.0.0.1", 9))
        except OSError as exc:
            assert "network access attempted" in str(exc)  # The guard is armed.

        from {provider_class.__module__} import {provider_class.__name__}
        vectors = {provider_class.__name__}().embed(["a warm wool blanket"])
        print(json.dumps({{"dims": len(vectors[0]), "norm": sum(x * x for x in vectors[0]) ** 0.5}}))
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT / ".local"), "HF_HUB_OFFLINE": "0", "PYTHONPATH": str(ROOT)}

    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["dims"] == 256
    assert loaded["norm"] == pytest.approx(1.0, abs=1e-4)
    assert "network access attempted" not in result.stderr


def test_recording_embeddings__deterministic_and_recorded():
    provider = RecordingEmbeddingProvider(dimensions=64)

    first = provider.embed(["mug", "scarf"])
    again = provider.embed(["mug"])

    assert first[0] == again[0] != first[1]
    assert np.linalg.norm(first[1]) == pytest.approx(1.0)
    assert provider.calls == [("mug", "scarf"), ("mug",)]
    assert provider.model_name == "test:sha256:64"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("local", MiniLMEmbeddingProvider),
        ("minilm", MiniLMEmbeddingProvider),
        ("wordllama", WordLlamaEmbeddingProvider),
        ("test", RecordingEmbeddingProvider),
    ],
)
def test_get_embedding_provider__resolves_aliases(settings, name, expected):
    settings.GIFTING_JOBS = {**settings.GIFTING_JOBS, "EMBEDDING_PROVIDER": name}

    assert type(get_embedding_provider()) is expected


def test_local_enrichment__tags_a_coffee_product_with_coffee(local_enrichment):
    enrichment = local_enrichment.enrich(COFFEE, price=Decimal("16.00"), description=COFFEE.splitlines()[-1])

    assert enrichment.tags[0] == "coffee"
    assert enrichment.price_band == "budget"
    assert enrichment.summary == "Whole bean coffee, light roast."
    assert enrichment.occasions and enrichment.recipient_types


def test_local_enrichment__tags_a_hiking_product_with_outdoors(local_enrichment):
    enrichment = local_enrichment.enrich(HIKING, price=Decimal("120"))

    assert enrichment.tags[0] == "outdoors"
    assert enrichment.price_band == "premium"
    # Without a description apart, the summary is the title.
    assert enrichment.summary == "Trail Pro 40L hiking backpack"


def test_local_enrichment__is_deterministic(local_enrichment):
    assert local_enrichment.enrich(HIKING, price=None) == local_enrichment.enrich(HIKING, price=None)


def test_zero_shot_rule__keeps_the_best_even_below_the_threshold_and_close_ones_only():
    rule = ZeroShotRule(threshold=0.3, relative=0.6, max_terms=3)
    terms = GIFT_TAGS[:5]

    assert rule.select(terms, np.array([0.1, 0.05, 0.2, 0.0, 0.15])) == (terms[2].slug,)
    assert rule.select(terms, np.array([0.7, 0.5, 0.2, 0.45, 0.41])) == (terms[0].slug, terms[1].slug, terms[3].slug)


def test_summarize__first_sentence_on_one_line_within_200_chars():
    assert summarize("Title", "First sentence here.  Second one.") == "First sentence here."
    assert summarize("Title\nBrand", "   ") == "Title"
    assert len(summarize("T", "word " * 100)) <= 200
