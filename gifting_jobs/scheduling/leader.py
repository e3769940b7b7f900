"""Leader election for `runscheduler`: a Postgres session advisory lock on a connection of its own.

One scheduler holds the lock and runs the duties; the others poll for it. The
lock belongs to the holder's database session, so when the holder dies (SIGKILL,
OOM, lost host) Postgres ends the session and frees the lock, and a standby
takes it at its next poll.

The lock lives on a dedicated psycopg connection, outside Django's connection
handling: `close_old_connections` (around every duty) and the job store's
shutdown close Django's connections, and closing the lock's session would hand
leadership away silently.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections

from gifting_jobs.scheduling.duties import HOLDER_PREFIX, parse_holder_name

logger = logging.getLogger(__name__)

#: Key of the scheduler's advisory lock ("schd"); the relay uses another one.
SCHEDULER_LOCK_KEY = 0x73636864
#: Seconds to wait for a connection to the database.
CONNECT_TIMEOUT_SECONDS = 10


class LeaderLock:
    """The scheduler's advisory lock, on one connection this object owns (thread-safe)."""

    def __init__(self, *, application_name: str, key: int = SCHEDULER_LOCK_KEY, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.application_name = application_name[:63]
        self.key = key
        self.alias = alias
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._mutex = threading.Lock()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        params = connections[self.alias].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        params["application_name"] = self.application_name
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        return psycopg.connect(**params, autocommit=True)

    def try_acquire(self) -> bool:
        """Take the lock without waiting; False if another session holds it or the database is unreachable."""
        with self._mutex:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
            except psycopg.Error as exc:
                logger.warning("scheduler lock: database unreachable (%s)", exc)
                self._drop()
                return False
            return bool(row and row[0])

    def held(self) -> bool:
        """Whether this session still holds the lock (False if the connection was lost)."""
        with self._mutex:
            if self._conn is None or self._conn.closed:
                return False
            try:
                row = self._conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND granted AND ((classid::bigint << 32) | objid::bigint) = %s",
                    [self.key],
                ).fetchone()
            except psycopg.Error as exc:
                logger.error("scheduler lock: connection lost (%s)", exc)
                self._drop()
                return False
            return bool(row and row[0])

    def release(self) -> None:
        """Release the lock and close the session (closing alone would free it too)."""
        with self._mutex:
            if self._conn is not None and not self._conn.closed:
                try:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
                except psycopg.Error:
                    pass  # The session is gone, and its lock with it.
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def current_holder(*, key: int = SCHEDULER_LOCK_KEY) -> str | None:
    """The application name of the session holding the scheduler lock in this database, if any."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            [key],
        )
        row = cursor.fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class SchedulerSession:
    """A `runscheduler` process seen through its leader-lock session: the leader or a standby."""

    #: The session's application name, `runscheduler@<host>:<pid>` (see `holder_name`).
    name: str
    host: str
    pid: int | None
    #: When the session connected: about when the process started standing by, not when it began to lead.
    connected_at: datetime
    leader: bool


def scheduler_sessions(*, key: int = SCHEDULER_LOCK_KEY) -> list[SchedulerSession]:
    """Every `runscheduler` connected to this database (leader first), from `pg_stat_activity` and `pg_locks`.

    Each process keeps one session for the lock while it stands by or leads, named
    after its host and pid, so this lists the schedulers without any heartbeat of their
    own. A lock holder with another name (a `LeaderLock` made by hand) is listed too.
    """
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(
            "SELECT name, connected_at, leader FROM ("
            "  SELECT a.application_name AS name, a.backend_start AS connected_at, EXISTS ("
            "    SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted"
            "    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            "    AND ((l.classid::bigint << 32) | l.objid::bigint) = %s"
            "  ) AS leader FROM pg_stat_activity a WHERE a.datname = current_database()"
            ") s WHERE leader OR starts_with(name, %s) ORDER BY leader DESC, connected_at, name",
            [key, HOLDER_PREFIX],
        )
        rows = cursor.fetchall()
    sessions = []
    for name, connected_at, leader in rows:
        host, pid = parse_holder_name(name)
        sessions.append(SchedulerSession(name=name, host=host, pid=pid, connected_at=connected_at, leader=leader))
    return sessions
