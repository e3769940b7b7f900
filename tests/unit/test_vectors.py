"""Reading vectors and rows back fast: binary vector decoding and the statement rewrite (no database)."""

from __future__ import annotations

import struct

import numpy as np
from pgvector import Vector

from gifting_jobs.models.vectors import _numbered_placeholders, decode_vector, decode_vectors


def binary_vector(values: list[float]) -> bytes:
    """pgvector's binary `vector`: int16 dimensions, int16 unused, big-endian float32s."""
    return struct.pack(f">hh{len(values)}f", len(values), 0, *values)


def test_decode_vectors__rows_of_one_matrix_equal_to_decoding_each_value():
    values = [binary_vector([0.5, -1.25, 3.0]), binary_vector([0.0, 2.0, -0.125])]

    matrix = decode_vectors(values)

    assert matrix.dtype == np.float64 and matrix.shape == (2, 3)
    assert np.array_equal(matrix, np.stack([decode_vector(v) for v in values]))


def test_decode_vectors__values_pgvector_decoded_already_give_the_same_matrix():
    # A connection with pgvector's own loaders (`register_vector`, which host projects call) returns Vectors.
    rows = [[0.5, -1.25, 3.0], [0.0, 2.0, -0.125]]

    matrix = decode_vectors([Vector(row) for row in rows])

    assert np.array_equal(matrix, decode_vectors([binary_vector(row) for row in rows]))
    assert np.array_equal(decode_vectors([np.array(row, dtype=np.float32) for row in rows]), matrix)


def test_decode_vectors__none_is_an_empty_matrix():
    assert decode_vectors([]).shape == (0, 0)


def test_numbered_placeholders__numbers_each_placeholder_and_unescapes_percent_signs():
    sql = "SELECT %s, title LIKE '50%%' FROM t WHERE a = %s AND b IN (%s)"

    assert _numbered_placeholders(sql) == "SELECT $1, title LIKE '50%' FROM t WHERE a = $2 AND b IN ($3)"
