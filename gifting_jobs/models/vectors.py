"""The pgvector column shared by products and taste profiles, and reading vectors back fast."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from pgvector import Vector
from pgvector.django import HnswIndex, VectorField
from psycopg.adapt import Loader

from gifting_jobs.conf import DEFAULT_EMBEDDING_DIMENSIONS


def embedding_dimensions() -> int:
    """The vector dimension, read once at import: it is fixed by the migration."""
    return int((getattr(settings, "GIFTING_JOBS", {}) or {}).get("EMBEDDING_DIMENSIONS", DEFAULT_EMBEDDING_DIMENSIONS))


def embedding_field() -> VectorField:
    """A nullable vector column of the configured dimension."""
    return VectorField(dimensions=embedding_dimensions(), null=True, blank=True)


def hnsw_cosine_index(name: str) -> HnswIndex:
    """The HNSW cosine index every vector column gets (m=16, ef_construction=64)."""
    return HnswIndex(name=name, fields=["embedding"], m=16, ef_construction=64, opclasses=["vector_cosine_ops"])


#: Statements whose `$n` form is kept per process (their shapes repeat: see `fetch_binary_sql`).
NUMBERED_STATEMENTS_CACHE_SIZE = 256

#: The widest vectors the covering price index (`Product`'s `product_price_vector`) can hold: its
#: entries, a vector of 4 bytes per dimension and the model name, must fit a B-tree page (2,704 bytes).
MAX_COVERED_DIMENSIONS = 600

#: pgvector's binary `vector`: int16 dimensions, int16 unused, then big-endian float32s.
_VECTOR_HEADER_BYTES = 4


def decode_vector(value: Any) -> np.ndarray:
    """A vector column's value from `fetch_binary` (or a text, pgvector or array value) as a float64 array."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return np.frombuffer(value, dtype=">f4", offset=_VECTOR_HEADER_BYTES).astype(np.float64)
    if hasattr(value, "to_numpy"):
        array: np.ndarray = value.to_numpy().astype(np.float64)
        return array
    if isinstance(value, str):
        return np.asarray(Vector._from_db(value), dtype=np.float64)
    return np.asarray(value, dtype=np.float64)


def decode_vectors(values: Sequence[Any]) -> np.ndarray:
    """Binary vector values of one dimension (from `fetch_binary`) as the rows of one float64 matrix.

    One buffer and one conversion for the lot: decoding row by row cost more than the scoring.
    """
    if not values:
        return np.zeros((0, 0))
    if not isinstance(values[0], (bytes, bytearray, memoryview)):
        # The connection has pgvector's own loaders (`register_vector`, as host projects may
        # call): the values are decoded already.
        return np.array([decode_vector(value) for value in values], dtype=np.float64)
    # The 4-byte header is one float32 wide: drop it as the first column.
    floats = np.frombuffer(b"".join(values), dtype=">f4").reshape(len(values), -1)
    return floats[:, _VECTOR_HEADER_BYTES // 4 :].astype(np.float64)


class JsonbTextLoader(Loader):
    """Binary jsonb as its JSON text (bytes), for rows whose JSON is decoded only if needed (`json.loads`)."""

    format = psycopg.pq.Format.BINARY

    def load(self, data: Any) -> bytes:
        # Binary jsonb is a version byte, then the JSON text.
        return bytes(data[1:])


def fetch_binary(queryset: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of a `values_list` queryset, fetched in binary: parsing vectors from text costs more than the search.

    Django's cursors bind client-side and return text (a 256-dim vector is
    parsed float by float in Python); a psycopg server-side binding cursor on
    the same connection and transaction returns it as ~1 KB of big-endian
    floats for `decode_vector`. The SQL is the ORM's own.
    """
    sql, params = queryset.query.sql_with_params()
    return fetch_binary_sql(sql, params)


def fetch_binary_sql(sql: str, params: Sequence[Any], *, json_text: bool = False) -> list[tuple[Any, ...]]:
    """The rows of one SQL statement (`%s` placeholders), fetched in binary (see `fetch_binary`).

    `json_text` leaves jsonb values as JSON text bytes (`JsonbTextLoader`).
    """
    connection.ensure_connection()
    # psycopg rewrites `%s` into `$n` by a regex on every call once a statement has more
    # than 50 parameters (its cache stops there), as the recommendation searches do; the
    # statements' shapes repeat, so the rewrite is cached here and psycopg sends it as is.
    with psycopg.RawCursor(connection.connection) as cursor:
        if json_text:
            cursor.adapters.register_loader("jsonb", JsonbTextLoader)
        # Never prepared: a generic plan could stop using the index, and
        # transaction-pooling proxies lose prepared statements.
        cursor.execute(_numbered_placeholders(sql), params, binary=True, prepare=False)
        return cursor.fetchall()


_PLACEHOLDER = re.compile(r"%([%s])")


@functools.lru_cache(maxsize=NUMBERED_STATEMENTS_CACHE_SIZE)
def _numbered_placeholders(sql: str) -> str:
    """The statement with Postgres' `$1, $2, ...` for its `%s` placeholders, and `%` for `%%`."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda match: "%" if match.group(1) == "%" else f"${next(numbers)}", sql)
