"""The benches' own databases, on the configured Postgres or the embedded one: dev data is never touched."""

from __future__ import annotations

import os
from urllib.parse import urlparse, urlunparse


def bench_database_url(name: str) -> str:
    """The URL of database `name` on the server of `DATABASE_URL` (or the embedded one), created if missing."""
    base = os.environ.get("DATABASE_URL")
    if not base:
        from core.local_services import embedded_database_url

        base = embedded_database_url()
    parts = urlparse(base)
    import psycopg

    with psycopg.connect(urlunparse(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parts._replace(path=f"/{name}"))
