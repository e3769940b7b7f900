"""Error fingerprints: what is masked, and which failures end up in one group."""

from __future__ import annotations

import pytest

from gifting_jobs.fingerprint import FINGERPRINT_LENGTH, MASKED_MESSAGE_MAX_CHARS, error_fingerprint, mask_message

EMBEDDING = "product_embedding"
NOT_FOUND = "gifting_jobs.exceptions.EntityNotFound"


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("Product 4242 not found", "Product <n> not found"),
        ("timed out after 30.5 s (attempt 3 of 5)", "timed out after <n> s (attempt <n> of <n>)"),
        (
            "taste profile 3f2a1c9e-1111-2222-3333-444455556666 has no answers",
            "taste profile <uuid> has no answers",
        ),
        ("job product-embedding:42:9f86d081884c7d65 is locked", "job product-embedding:<n>:<hex> is locked"),
        ("segfault at 0x7ffd1234", "segfault at <hex>"),
        ("no push token for ana.silva+gifts@example.com", "no push token for <email>"),
        (
            "HTTP 503 from https://api.example.com/v1/embeddings?batch=17",
            "HTTP 503 from <url>",
        ),
        ("Error code: 429 - rate limited for 20s", "Error code: 429 - rate limited for <n>s"),
        ("KeyError: 'title'", "KeyError: 'title'"),
        ("product 'Red mug 2' is archived", "product '<str>' is archived"),
        (
            '{"error": {"message": "Invalid input 12", "type": "invalid_request"}}',
            '{"error": {"message": "<str>", "type": "invalid_request"}}',
        ),
        ("can't reach   Redis\n  on port 6379", "can't reach Redis on port <n>"),
    ],
)
def test_mask_message__masks_variable_parts(message: str, masked: str) -> None:
    assert mask_message(message) == masked


def test_mask_message__words_and_short_hex_like_words_stay() -> None:
    # "deadbeef" has no digit and "cafe" is short: words, not ids.
    assert mask_message("deadbeef cafe fade") == "deadbeef cafe fade"


def test_mask_message__only_the_head_counts() -> None:
    head = "x" * MASKED_MESSAGE_MAX_CHARS
    assert mask_message(head + " tail one") == mask_message(head + " other tail") == head


def test_error_fingerprint__messages_differing_only_in_ids_share_it() -> None:
    first = error_fingerprint(
        EMBEDDING,
        NOT_FOUND,
        "product 4242 (3f2a1c9e-1111-2222-3333-444455556666) not found while embedding text hash 9f86d081884c7d65",
    )
    second = error_fingerprint(
        EMBEDDING,
        NOT_FOUND,
        "product 97 (0b1e5c6a-aaaa-bbbb-cccc-ddddeeeeffff) not found while embedding text hash 1b4f0e9851971998",
    )

    assert first == second
    assert len(first) == FINGERPRINT_LENGTH and int(first, 16) >= 0


def test_error_fingerprint__class_type_and_wording_tell_groups_apart() -> None:
    base = error_fingerprint(EMBEDDING, NOT_FOUND, "product 1 not found")

    assert error_fingerprint(EMBEDDING, "gifting_jobs.exceptions.TransientJobError", "product 1 not found") != base
    assert error_fingerprint("product_enrichment", NOT_FOUND, "product 1 not found") != base
    assert error_fingerprint(EMBEDDING, NOT_FOUND, "product 1 was archived") != base


def test_error_fingerprint__http_statuses_are_not_masked() -> None:
    error = "openai.APIStatusError"
    assert error_fingerprint(EMBEDDING, error, "Error code: 429") != error_fingerprint(
        EMBEDDING, error, "Error code: 500"
    )
    assert error_fingerprint(EMBEDDING, error, "HTTP 503 (try 1)") == error_fingerprint(
        EMBEDDING, error, "HTTP 503 (try 2)"
    )
