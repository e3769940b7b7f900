"""The OpenAI embedding provider, with the real SDK against the fake OpenAI server."""

from __future__ import annotations

import numpy as np
import pytest

from gifting_jobs.exceptions import ConfigurationError, PermanentJobError, ProviderRateLimited, TransientJobError
from gifting_jobs.providers.embeddings.openai import OpenAIEmbeddingProvider
from gifting_jobs.retry_policy import ErrorKind, classify_error
from tests.fake_openai import BAD_REQUEST, OK, RATE_LIMITED, SERVER_ERROR, Fail, Hang, Ok, fake_vector


def unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector)
    return array / np.linalg.norm(array)


def test_openai_embeddings__returns_unit_vectors_of_the_asked_dimension(openai_embeddings, fake_openai):
    provider = openai_embeddings()

    vectors = provider.embed(["espresso grinder", "hiking boots"])

    assert provider.model_name == "openai:text-embedding-3-small:256"
    assert len(vectors) == 2
    for text, vector in zip(["espresso grinder", "hiking boots"], vectors, strict=True):
        assert len(vector) == 256
        assert np.linalg.norm(vector) == pytest.approx(1.0)
        assert np.allclose(vector, unit(fake_vector(text, 256)), atol=1e-6)
    (request,) = fake_openai.requests_to("embeddings")
    assert request.body["model"] == "text-embedding-3-small"
    assert request.body["dimensions"] == 256
    assert request.body["input"] == ["espresso grinder", "hiking boots"]
    assert request.headers["authorization"] == "Bearer sk-test-fake"


def test_openai_embeddings__batches_by_batch_size_and_keeps_input_order(openai_embeddings, fake_openai):
    provider = openai_embeddings(EMBEDDING_BATCH_SIZE=64)
    texts = [f"gift idea number {i}" for i in range(150)]

    vectors = provider.embed(texts)

    requests = fake_openai.requests_to("embeddings")
    assert [len(r.body["input"]) for r in requests] == [64, 64, 22]
    assert [t for r in requests for t in r.body["input"]] == texts
    # The fake answers each batch in reverse order: the provider must sort by index.
    assert all(np.allclose(v, unit(fake_vector(t, 256)), atol=1e-6) for t, v in zip(texts, vectors, strict=True))


def test_openai_embeddings__model_and_dimensions_come_from_settings(openai_embeddings, fake_openai):
    provider = openai_embeddings(EMBEDDING_MODEL="text-embedding-3-large", EMBEDDING_DIMENSIONS=512)

    (vector,) = provider.embed(["candle"])

    assert len(vector) == 512
    assert provider.model_name == "openai:text-embedding-3-large:512"
    assert fake_openai.requests_to("embeddings")[0].body["model"] == "text-embedding-3-large"


def test_openai_embeddings__429_is_transient_with_retry_after_and_the_sdk_does_not_retry(
    openai_embeddings, fake_openai
):
    provider = openai_embeddings()
    fake_openai.script("embeddings", RATE_LIMITED)

    with pytest.raises(TransientJobError, match="HTTP 429") as caught:
        provider.embed(["mug"])

    # A rate limit: the job snoozes for the Retry-After (plus a small spread), the answer's hint is kept as the cause.
    assert isinstance(caught.value, ProviderRateLimited) and caught.value.__cause__.retry_after == 1.0
    assert 1.0 <= caught.value.retry_after <= 1.1
    assert classify_error(caught.value) is ErrorKind.TRANSIENT
    assert len(fake_openai.requests_to("embeddings")) == 1  # max_retries=0: the spine retries, not the SDK.


def test_openai_embeddings__retry_after_ms_is_preferred(openai_embeddings, fake_openai):
    provider = openai_embeddings()
    fake_openai.script("embeddings", Fail(429, retry_after="7", retry_after_ms="250"))

    with pytest.raises(TransientJobError) as caught:
        provider.embed(["mug"])

    assert caught.value.__cause__.retry_after == pytest.approx(0.25)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_openai_embeddings__5xx_is_transient(openai_embeddings, fake_openai, status):
    provider = openai_embeddings()
    fake_openai.script("embeddings", Fail(status))

    with pytest.raises(TransientJobError, match=f"HTTP {status}") as caught:
        provider.embed(["mug"])

    assert caught.value.retry_after is None
    assert classify_error(caught.value) is ErrorKind.TRANSIENT


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_openai_embeddings__other_4xx_is_permanent(openai_embeddings, fake_openai, status):
    provider = openai_embeddings()
    fake_openai.script("embeddings", Fail(status, message="nope"))

    with pytest.raises(PermanentJobError, match=f"HTTP {status}: nope") as caught:
        provider.embed(["mug"])

    assert classify_error(caught.value) is ErrorKind.PERMANENT
    assert len(fake_openai.requests_to("embeddings")) == 1


def test_openai_embeddings__timeout_is_transient(openai_embeddings, fake_openai):
    provider = openai_embeddings(OPENAI_TIMEOUT_SECONDS=0.3)
    fake_openai.script("embeddings", Hang(30))

    with pytest.raises(TransientJobError, match="timed out") as caught:
        provider.embed(["mug"])

    assert classify_error(caught.value) is ErrorKind.TRANSIENT
    assert len(fake_openai.requests_to("embeddings")) == 1


def test_openai_embeddings__connection_refused_is_transient(settings, fake_openai):
    from tests.fake_openai import openai_settings

    # A port nothing listens on: the server was stopped.
    fake_openai.stop()
    settings.GIFTING_JOBS = openai_settings(fake_openai, settings.GIFTING_JOBS)

    with pytest.raises(TransientJobError, match="could not connect"):
        OpenAIEmbeddingProvider(dimensions=256).embed(["mug"])


def test_openai_embeddings__wrong_dimension_answer_is_permanent(openai_embeddings, fake_openai):
    # Given a model that ignores `dimensions`.
    provider = openai_embeddings()
    fake_openai.script("embeddings", Ok(dimensions=1536))

    with pytest.raises(PermanentJobError, match="1536-dim vectors, 256 were asked"):
        provider.embed(["mug"])


def test_openai_embeddings__missing_api_key_is_a_configuration_error(openai_embeddings):
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        openai_embeddings(OPENAI_API_KEY="")


def test_openai_embeddings__bad_request_then_nothing_else_is_sent(openai_embeddings, fake_openai):
    provider = openai_embeddings(EMBEDDING_BATCH_SIZE=2)
    fake_openai.script("embeddings", BAD_REQUEST)

    with pytest.raises(PermanentJobError):
        provider.embed(["a", "b", "c", "d"])

    assert len(fake_openai.requests_to("embeddings")) == 1


def test_openai_embeddings__server_error_midway_fails_the_whole_call(openai_embeddings, fake_openai):
    provider = openai_embeddings(EMBEDDING_BATCH_SIZE=2)
    fake_openai.script("embeddings", OK, SERVER_ERROR)

    with pytest.raises(TransientJobError):
        provider.embed(["a", "b", "c", "d"])

    assert len(fake_openai.requests_to("embeddings")) == 2
