"""The PostgreSQL backend: `state: postgresql://...` in fluentcart.yaml (or FLUENTCART_STATE).

Only this module talks to the database. One database holds many workspaces (stores,
environments), each a row of `fluentcart.workspace`; its customers are rows of their own:

- `customer`: one row per recorded customer (the object the store returned, as jsonb) with
  a version that moves by one each time the record changes;
- `customer_version`: every version ever recorded, append-only, with the run that wrote it;
- `run`: who ran what, where and when, and how it ended; the lock holder's details;
- `pending_op`: the intent written before each PUT, cleared in the same transaction that
  records the answer. One left behind means a run died with that PUT's result unknown:
  the next run reads that customer from the store again.
- `schema_migrations`: the schema's version; a database newer than this tool is refused.

Apply records each customer in its own transaction the moment the store answers (the row
only if its version is still the one this run read, the history row, the intent cleared),
so a killed run loses nothing the store accepted. The worker sends that statement whole
and goes on to its next PUT; the commit's outcome is taken at its connection's next use.
The workspace's serial moves once per run. Locking is a session advisory lock in the
two-key form (fluentcart's namespace, the workspace's id) on a dedicated connection:
workspaces never block each other, and a holder that dies releases it with its session.

Credentials come from libpq (PGPASSWORD, ~/.pgpass, PG* variables); a password written in
fluentcart.yaml is refused, and the location shown in messages never carries one.
"""

import contextlib
import hashlib
import json
import os
import queue
import select
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from reconciler import __version__, jsontext
from reconciler.errors import StateError
from reconciler.labels import Catalog
from reconciler.lock import HOLDER_SETTLE_SECONDS, LockError, LockInfo, check_release
from reconciler.state import (
    PLAN_FIELDS,
    CustomerRecord,
    RecordVersion,
    StateFile,
    sharing_values,
)
from reconciler.workspace import NameMode

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql://", "postgres://")
LOCK_NAMESPACE = 0x0FC0  # the first key of every fluentcart advisory lock (the second: workspace)
MIGRATION_LOCK = 0  # second key while migrating the schema (no workspace has id 0)
POLL_SECONDS = 0.2
STREAM_ROWS = 1000  # rows per chunk of a streamed read (see _streamed)
BULK_MIN = 50  # from this many customers in one write, COPY and set statements

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE fluentcart.workspace (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL UNIQUE,
            site text,
            lineage uuid NOT NULL,
            serial bigint NOT NULL,
            name_mode text,
            tool_version text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE fluentcart.run (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            workspace_id bigint NOT NULL REFERENCES fluentcart.workspace ON DELETE CASCADE,
            kind text NOT NULL,
            holder jsonb NOT NULL,
            git_commit text,
            plan_sha256 text,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            status text
        );
        CREATE TABLE fluentcart.customer (
            workspace_id bigint NOT NULL REFERENCES fluentcart.workspace ON DELETE CASCADE,
            customer_id bigint NOT NULL,
            observed jsonb NOT NULL,
            observed_at text NOT NULL,
            last_applied jsonb NOT NULL,
            version bigint NOT NULL,
            run_id bigint REFERENCES fluentcart.run ON DELETE SET NULL,
            PRIMARY KEY (workspace_id, customer_id)
        );
        CREATE TABLE fluentcart.customer_version (
            workspace_id bigint NOT NULL REFERENCES fluentcart.workspace ON DELETE CASCADE,
            customer_id bigint NOT NULL,
            version bigint NOT NULL,
            observed jsonb,
            observed_at text,
            last_applied jsonb,
            op text NOT NULL,
            run_id bigint REFERENCES fluentcart.run ON DELETE SET NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (workspace_id, customer_id, version)
        );
        CREATE TABLE fluentcart.pending_op (
            workspace_id bigint NOT NULL REFERENCES fluentcart.workspace ON DELETE CASCADE,
            customer_id bigint NOT NULL,
            run_id bigint REFERENCES fluentcart.run ON DELETE SET NULL,
            started_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (workspace_id, customer_id)
        );
        """,
    ),
    (
        2,
        # What a plan compares of each customer (PLAN_FIELDS), kept beside the whole record
        # so that plan and validate read only that: no per-row work for the server.
        f"""
        ALTER TABLE fluentcart.customer ADD COLUMN plan_fields jsonb;
        UPDATE fluentcart.customer SET plan_fields = coalesce((SELECT jsonb_object_agg(key,
            value) FROM jsonb_each(observed) WHERE key = ANY(ARRAY[{
            ", ".join(f"'{key}'" for key in (*sorted(PLAN_FIELDS), "fluentcart:json-text"))
        }])), '{{}}');
        ALTER TABLE fluentcart.customer ALTER COLUMN plan_fields SET NOT NULL;
        """,
    ),
    (
        3,
        # The store's labels when last read (label id -> title); NULL: never read.
        "ALTER TABLE fluentcart.workspace ADD COLUMN labels jsonb;",
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def is_postgres(location: str) -> bool:
    return location.startswith(SCHEMES)


_SECRET_PARAMETERS = ("password", "sslpassword")


def shown_location(location: str) -> str:
    """The location without any password (in the user part or the query), for messages.

    Anything it cannot take apart (several hosts, a malformed address) shows no user part
    and no query at all rather than risk one.
    """
    try:
        parts = urlsplit(location)
        if parts.password is None and not any(p in parts.query for p in _SECRET_PARAMETERS):
            return location
        user, _, hosts = parts.netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{hosts}" if user else hosts
        query = "&".join(
            item
            for item in parts.query.split("&")
            if item and item.split("=", 1)[0] not in _SECRET_PARAMETERS
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        scheme, _, rest = location.partition("://")
        host = rest.rpartition("@")[2].split("?", 1)[0]
        return f"{scheme}://{host}"


def scrub(text: str, location: str) -> str:
    """`text` without the location's password, PGPASSWORD or the location itself."""
    secrets = {location, os.environ.get("PGPASSWORD", "")}
    with contextlib.suppress(ValueError):
        secrets.add(urlsplit(location).password or "")
    for item in location.partition("?")[2].split("&"):
        name, _, value = item.partition("=")
        if name in _SECRET_PARAMETERS:
            secrets.add(value)
    for secret in sorted(secrets - {""}, key=len, reverse=True):
        text = text.replace(
            secret, shown_location(location) if secret == location else "<redacted>"
        )
    return text


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateError(
            "the PostgreSQL state backend needs psycopg: pip install 'fluentcart-reconciler[postgres]'"
        ) from None
    return psycopg


class PostgresLock:
    """The workspace's advisory lock on its own connection, with a run row for the holder."""

    def __init__(self, storage: "PostgresStorage", operation: str, timeout: float) -> None:
        self.storage = storage
        self.operation = operation
        self.timeout = timeout
        self.took_over: LockInfo | None = None  # a dead holder's session releases its lock
        self.info: LockInfo | None = None
        self.run_id: int | None = None
        self._connection: psycopg.Connection[Any] | None = None

    def __enter__(self) -> "PostgresLock":
        storage = self.storage
        workspace_id = storage.workspace_id(create=True)
        connection = storage.connect(f"fluentcart {self.operation} (lock)")
        deadline = time.monotonic() + self.timeout
        while True:
            got = connection.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, workspace_id)
            ).fetchone()
            if got and got[0]:
                break
            if time.monotonic() >= deadline:
                # The holder records who it is right after taking the lock: give it a moment.
                holder = storage.holder()
                settle = time.monotonic() + HOLDER_SETTLE_SECONDS
                while holder is None and time.monotonic() < settle:
                    time.sleep(0.02)
                    holder = storage.holder()
                connection.close()
                shown = (
                    holder.describe() if holder else "another run (its details are not recorded)"
                )
                wait = (
                    f" after waiting {self.timeout:g} s"
                    if self.timeout
                    else "; wait for it with --lock-timeout SECONDS"
                )
                hint = holder.unlock_hint() if holder else ""
                raise LockError(f"the state is locked{wait}: {shown}{hint}")
            time.sleep(POLL_SECONDS)
        # A run whose row is unfinished while this one holds the lock lost its session
        # (killed, crashed, cut off): its lock went with it. Say so, and close its row.
        dead = connection.execute(
            "UPDATE fluentcart.run SET finished_at = now(), status = 'died'"
            " WHERE workspace_id = %s AND finished_at IS NULL RETURNING id, holder",
            (workspace_id,),
        ).fetchall()
        if dead:
            details = dict(max(dead, key=lambda row: row[0])[1])
            details.pop("backend_pid", None)
            self.took_over = LockInfo(**details)
        pid = connection.execute("SELECT pg_backend_pid()").fetchone()
        self.info = LockInfo.new(self.operation)
        mine = {**self.info.__dict__, "backend_pid": pid[0] if pid else None}
        row = connection.execute(
            "INSERT INTO fluentcart.run (workspace_id, kind, holder, git_commit)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (workspace_id, self.operation, json.dumps(mine), os.environ.get("GITHUB_SHA")),
        ).fetchone()
        connection.commit()
        self.run_id = row[0] if row else None
        self._connection = connection
        storage.run_id = self.run_id
        storage.lock_connection = connection
        storage.lock_pid = int(pid[0]) if pid else None
        return self

    def __exit__(self, *exc: object) -> None:
        connection = self._connection
        if connection is None:
            return
        self._connection = None
        with contextlib.suppress(Exception):
            status = "failed" if exc and exc[0] is not None else "done"
            connection.execute(
                "UPDATE fluentcart.run SET finished_at = now(), status = %s WHERE id = %s",
                (status, self.run_id),
            )
            connection.execute(
                "SELECT pg_advisory_unlock(%s, %s)",
                (LOCK_NAMESPACE, self.storage.workspace_id()),
            )
            connection.commit()
        with contextlib.suppress(Exception):
            connection.close()
        self.storage.run_id = None
        self.storage.lock_connection = None
        self.storage.lock_pid = None


class PostgresRecorder:
    """Each customer's answer, committed in its own transaction as it arrives, on a
    connection of the calling worker's own (commits of parallel workers do not queue), the
    worker not waiting for the commit before its next PUT (see `record`)."""

    def __init__(self, storage: "PostgresStorage", workers: int = 1) -> None:
        self.storage = storage
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._guard = threading.Lock()
        self._ahead: set[int] = set()  # intents recorded ahead, for customers not sent yet
        self._closed = False
        self._sent: dict[int, tuple[int, CustomerRecord]] = {}  # by connection: see _send
        self._prepared: set[int] = set()  # connections where RECORD is prepared
        with storage.session("fluentcart"):
            pass  # a database that cannot be reached fails here, before any PUT
        # The workers' connections are opened in the background while their first PUTs are
        # out: each costs 30-60 ms of authentication when 8 open at once, which would
        # otherwise delay each worker's first answer being recorded.
        self._ready: queue.SimpleQueue[psycopg.Connection[Any] | StateError] = queue.SimpleQueue()
        self._warming = workers if workers > 1 else 0
        if self._warming:
            threading.Thread(
                target=self._open, args=(workers,), name="fluentcart-connect", daemon=True
            ).start()

    def _open(self, count: int) -> None:
        for _ in range(count):
            try:
                self._ready.put(self._new_connection())
            except StateError as exc:
                self._ready.put(exc)

    def _new_connection(self) -> "psycopg.Connection[Any]":
        connection = self.storage.connect("fluentcart apply (records)")
        connection.autocommit = True  # each write is one statement: one round trip
        with self._guard:
            closed = self._closed
            if not closed:
                self._connections.append(connection)
        if closed:  # opened in the background after the run ended
            connection.close()
        return connection

    def _connection(self) -> "psycopg.Connection[Any]":
        connection = getattr(self._local, "connection", None)
        if connection is None:
            with self._guard:
                warmed = self._warming > 0
                self._warming -= warmed
            if warmed:
                opened = self._ready.get(timeout=60)
                if isinstance(opened, StateError):
                    raise opened
                connection = opened
            else:
                connection = self._new_connection()
            self._local.connection = connection
        return connection

    def _held(self) -> tuple[str, dict[str, Any]]:
        """A condition true while this run's lock session still holds the workspace's lock
        (a session that ended took the lock with it): every write of the recorder carries
        it, so a run that lost its lock sends and writes nothing more."""
        storage = self.storage
        if storage.lock_pid is None:
            return "true", {}
        return (
            "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %(ns)s AND objid = %(w)s AND objsubid = 2 AND pid = %(pid)s)",
            {"ns": LOCK_NAMESPACE, "w": storage.workspace_id(), "pid": storage.lock_pid},
        )

    def intend_ahead(self, customer_ids: list[int]) -> None:
        """The intents of a batch of customers whose PUTs may follow, committed in one
        statement (checking the lock is held) before any of them is sent, so that each
        worker's `intend` costs no round trip of its own. Those that get no PUT are cleared
        by `close`, or, after a kill, read from the store again by the next run."""
        if not customer_ids:
            return
        held, parameters = self._held()
        with (
            self.storage.failing("no PUT of theirs was sent"),
            self.storage.session("fluentcart") as connection,  # the run's own thread
        ):
            cursor = connection.execute(
                "INSERT INTO fluentcart.pending_op (workspace_id, customer_id, run_id)"
                f" SELECT %(w)s, c, %(r)s FROM unnest(%(ids)s::bigint[]) AS c WHERE {held}"
                " ON CONFLICT (workspace_id, customer_id)"
                " DO UPDATE SET run_id = excluded.run_id, started_at = now()",
                {
                    **parameters,
                    "w": self.storage.workspace_id(),
                    "r": self.storage.run_id,
                    "ids": customer_ids,
                },
            )
        if cursor.rowcount != len(customer_ids):
            self.storage.check_locked()  # raises, naming why
            raise StateError(f"{self.storage.display}: this run no longer holds the lock")
        with self._guard:
            self._ahead.update(customer_ids)

    def intend(self, customer_id: int) -> None:
        """The intent, committed before the PUT is sent: already, by `intend_ahead`, while
        the lock's session is quiet (the server says so on it when it ends the session);
        otherwise in one statement that also checks the lock is still held."""
        with self._guard:
            ahead = customer_id in self._ahead
            self._ahead.discard(customer_id)
        if ahead and self.storage.lock_session_quiet():
            return
        held, parameters = self._held()
        with self.storage.failing(f"customer {customer_id}'s PUT was not sent"):
            connection = self._connection()
        self._settle(connection, f" Customer {customer_id}'s PUT was not sent.")
        with self.storage.failing(f"customer {customer_id}'s PUT was not sent"):
            cursor = connection.execute(
                "INSERT INTO fluentcart.pending_op (workspace_id, customer_id, run_id)"
                f" SELECT %(w)s, %(c)s, %(r)s WHERE {held}"
                " ON CONFLICT (workspace_id, customer_id)"
                " DO UPDATE SET run_id = excluded.run_id, started_at = now()",
                {
                    **parameters,
                    "w": self.storage.workspace_id(),
                    "c": customer_id,
                    "r": self.storage.run_id,
                },
            )
        if cursor.rowcount != 1:
            self.storage.check_locked()  # raises, naming why
            raise StateError(f"{self.storage.display}: this run no longer holds the lock")

    def record(self, customer_id: int, record: CustomerRecord) -> None:
        """The answer, the history row and the intent cleared: one statement, only at the
        version this run read and only while the lock is held.

        While the lock's session is quiet, the statement is sent whole and `record` returns
        without waiting for the commit, so the worker's next PUT goes out meanwhile: the
        server commits a statement it received whether or not this process lives on (a
        killed run still leaves no more answers unrecorded than it had PUTs in flight), and
        the outcome is taken at the connection's next use or at `close`. One that failed
        stops the run there: that customer's intent is left, and the next run reads it from
        the store again, as it does the customer whose PUT went out meanwhile."""
        storage = self.storage
        known = storage.versions.get(customer_id)
        with storage.failing(_unrecorded(customer_id)):
            connection = self._connection()
        self._settle(
            connection,
            f" Customer {customer_id}'s answer, which came next, is not recorded either;"
            " its intent is left too.",
        )
        with storage.failing(_unrecorded(customer_id)):
            if known is None:  # not recorded before: the general path, one transaction
                storage.check_locked()
                with connection.transaction():
                    storage.write_customer(connection, customer_id, record, "apply")
                    connection.execute(
                        "DELETE FROM fluentcart.pending_op WHERE workspace_id = %s"
                        " AND customer_id = %s",
                        (storage.workspace_id(), customer_id),
                    )
            elif storage.lock_session_quiet():
                # While the lock's session is quiet it holds the lock (a server that ends it
                # says so on it first, as for `intend`): the statement is sent, and its
                # outcome taken at this connection's next use (`_settle`).
                self._send(connection, customer_id, known, record)
                return
            else:
                held, parameters = self._held()
                row = connection.execute(
                    f"WITH held AS (SELECT {held} AS yes),"
                    " u AS (UPDATE fluentcart.customer SET observed = %(o)s, plan_fields ="
                    " %(p)s, observed_at = %(at)s, last_applied = %(la)s, version = version + 1,"
                    " run_id = %(r)s WHERE workspace_id = %(w)s AND customer_id = %(c)s"
                    " AND version = %(k)s AND (SELECT yes FROM held) RETURNING version),"
                    " h AS (INSERT INTO fluentcart.customer_version (workspace_id, customer_id,"
                    " version, observed, observed_at, last_applied, op, run_id) SELECT %(w)s,"
                    " %(c)s, version, %(o)s, %(at)s, %(la)s, 'apply', %(r)s FROM u),"
                    " d AS (DELETE FROM fluentcart.pending_op WHERE workspace_id = %(w)s"
                    " AND customer_id = %(c)s AND EXISTS (SELECT 1 FROM u))"
                    " SELECT (SELECT version FROM u), (SELECT yes FROM held)",
                    {
                        **parameters,
                        "w": storage.workspace_id(),
                        "c": customer_id,
                        "k": known,
                        "r": storage.run_id,
                        **dict(zip(("o", "p", "at", "la"), _columns(record), strict=True)),
                    },
                ).fetchone()
                version, held_yet = row if row else (None, False)
                if not held_yet:
                    storage.check_locked()
                    raise StateError(f"{storage.display}: this run no longer holds the lock")
                if version is None:
                    raise StateError(_moved(customer_id, storage.display))
                storage.versions[customer_id] = int(version)
            # Held until persist: sharing what it has in common with the record it replaces.
            kept = sharing_values(record, storage.earlier.get(customer_id))
            with self._guard:
                storage.recorded[customer_id] = kept
                self._ahead.discard(customer_id)

    def _send(
        self,
        connection: "psycopg.Connection[Any]",
        customer_id: int,
        known: int,
        record: CustomerRecord,
    ) -> None:
        """Send the answer's statement (RECORD, prepared once per connection) whole, and
        leave its outcome to `_settle`. The connection is this worker's own, and every use
        of it settles first, so psycopg never finds a result it did not ask for."""
        storage = self.storage
        pgconn = connection.pgconn
        if id(connection) not in self._prepared:
            connection.execute(RECORD)
            with self._guard:
                self._prepared.add(id(connection))
        encoding = connection.info.encoding
        values = [
            _text(storage.workspace_id()),
            _text(customer_id),
            _text(known),
            _text(storage.run_id),
            *(None if value is None else value.encode(encoding) for value in _columns(record)),
        ]
        # Held until persist, once committed: sharing what it has in common with the
        # record it replaces.
        kept = sharing_values(record, storage.earlier.get(customer_id))
        pgconn.send_query_prepared(b"fluentcart_record", values)
        while pgconn.flush():
            _wait_for(pgconn.socket, select.POLLOUT)
        with self._guard:
            self._sent[id(connection)] = (customer_id, kept)
            self._ahead.discard(customer_id)

    def _settle(self, connection: "psycopg.Connection[Any]", then: str = "") -> None:
        """The outcome of the answer this connection sent last and has not settled: its
        version and record kept when committed, else StateError, naming it and (`then`)
        what else that leaves undone."""
        with self._guard:
            sent = self._sent.pop(id(connection), None)
        if sent is None:
            return
        customer_id, kept = sent
        storage = self.storage
        psycopg = _driver()
        with storage.failing(_unrecorded(customer_id) + "." + then):
            pgconn = connection.pgconn
            pgconn.consume_input()
            while pgconn.is_busy():
                _wait_for(pgconn.socket, select.POLLIN)
                pgconn.consume_input()
            results = []
            while (result := pgconn.get_result()) is not None:
                results.append(result)
            failed = [r for r in results if r.status != psycopg.pq.ExecStatus.TUPLES_OK]
            if failed:
                raise psycopg.errors.error_from_result(failed[0], connection.info.encoding)
            if not results:
                raise psycopg.OperationalError("the server sent no result")
        version = results[0].get_value(0, 0) if results[0].ntuples else None
        if version is None:  # the row was not at the version this run read
            raise StateError(_moved(customer_id, storage.display) + then)
        storage.versions[customer_id] = int(version)
        with self._guard:
            storage.recorded[customer_id] = kept

    def release(self, customer_id: int) -> None:
        with self._guard:
            self._ahead.discard(customer_id)
        with self.storage.failing(f"customer {customer_id}'s intent is left"):
            connection = self._connection()
        self._settle(connection, f" Customer {customer_id}'s intent is left too.")
        with self.storage.failing(f"customer {customer_id}'s intent is left"):
            connection.execute(
                "DELETE FROM fluentcart.pending_op WHERE workspace_id = %s AND customer_id = %s",
                (self.storage.workspace_id(), customer_id),
            )

    def close(self) -> None:
        """Clear this run's intents of customers that got no PUT (skipped, refused before
        it, never started), while the lock is held; then close the connections."""
        failure: StateError | None = None
        with self._guard:
            connections = list(self._connections)
        for connection in connections:  # every worker has finished: their last answers
            try:
                self._settle(connection)
            except StateError as exc:
                failure = failure or exc
        with self._guard:
            unsent = sorted(self._ahead)
            self._ahead.clear()
        if unsent:
            held, parameters = self._held()
            with (
                contextlib.suppress(Exception),  # left, they are only read again next run
                self.storage.session("fluentcart") as connection,
            ):
                connection.execute(
                    "DELETE FROM fluentcart.pending_op WHERE workspace_id = %(w)s"
                    f" AND run_id = %(r)s AND customer_id = ANY(%(ids)s) AND {held}",
                    {
                        **parameters,
                        "w": self.storage.workspace_id(),
                        "r": self.storage.run_id,
                        "ids": unsent,
                    },
                )
        with self._guard:
            self._closed = True
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()
        if failure is not None:
            raise failure


class PostgresStorage:
    """The StateStorage of one workspace in a PostgreSQL database."""

    def __init__(self, location: str, workspace: str) -> None:
        self.location = location
        self.workspace = workspace
        self.display = f"{shown_location(location)} (workspace {workspace})"
        self.pending_location = "the database's pending_op table"
        self.run_id: int | None = None
        self.recorded: dict[int, CustomerRecord] = {}  # what this run's recorder wrote
        self.versions: dict[int, int] = {}  # each customer's version when this run read it
        self.earlier: Mapping[int, CustomerRecord] = {}  # the records as this run read them
        self._workspace_id: int | None = None
        self._migrated = False
        self._sessions = threading.local()  # see session()
        self.lock_connection: psycopg.Connection[Any] | None = None  # while the lock is held
        self.lock_pid: int | None = None  # the lock's database session

    @contextlib.contextmanager
    def failing(self, consequence: str) -> Iterator[None]:
        """Turn a database error inside the block into the tool's error, saying what it
        means for the run (`consequence`)."""
        psycopg = _driver()
        try:
            yield
        except psycopg.OperationalError as exc:
            raise StateError(
                f"lost its connection to the state database {shown_location(self.location)}"
                f" ({scrub(_first_line(exc), self.location)}): {consequence}"
            ) from None
        except psycopg.Error as exc:
            raise StateError(
                f"the state database {shown_location(self.location)} failed"
                f" ({scrub(_first_line(exc), self.location)}): {consequence}"
            ) from None

    @contextlib.contextmanager
    def _writing(self, purpose: str, consequence: str) -> "Iterator[psycopg.Connection[Any]]":
        """One transaction of a run that holds the lock (checked first), its database errors
        told as `failing` tells them."""
        self.check_locked()
        with (
            self.failing(consequence),
            self.session(purpose) as connection,
            connection.transaction(),
        ):
            yield connection

    def check_locked(self) -> None:
        """Raise unless this run still holds the workspace's lock: a lock's session that
        ended (terminated, cut off) took the lock with it, and another run may hold it now."""
        connection = self.lock_connection
        if connection is None:
            return
        psycopg = _driver()
        try:
            connection.execute("SELECT 1")
        except psycopg.Error as exc:
            raise StateError(
                f"lost the lock on {self.display}: its database session ended"
                f" ({scrub(_first_line(exc), self.location)}), so this run writes nothing"
                " more. What it recorded before is kept; run it again to finish."
            ) from None

    def lock_session_quiet(self) -> bool:
        """Whether the lock's session has sent nothing since its last statement, checked
        without a round trip: a server that ends the session (pg_terminate_backend,
        force-unlock) first says so on its socket. Anything there, a statement in progress
        included, answers False, and the caller asks the database."""
        connection = self.lock_connection
        return connection is not None and _sound(connection)

    # ---- connections and schema ----------------------------------------------------------

    def connect(self, purpose: str) -> "psycopg.Connection[Any]":
        psycopg = _driver()
        try:
            connection = psycopg.connect(
                self.location,
                application_name=purpose[:63],
                connect_timeout=10,
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        except psycopg.Error as exc:  # unreachable, refused, or a malformed address
            raise StateError(
                f"cannot connect to the state database {shown_location(self.location)}:"
                f" {scrub(_first_line(exc), self.location)}"
            ) from None
        if not self._migrated:
            self._migrate(connection)
            self._migrated = True
        return connection

    @contextlib.contextmanager
    def session(self, purpose: str) -> "Iterator[psycopg.Connection[Any]]":
        """This thread's connection for short statements, kept open between them: each new
        one costs a round of SCRAM authentication and a server process (20-30 ms, several
        per command). Like `with connect()` it commits at the end, or rolls back on an
        error, when the outermost use ends; a connection the server has ended (it says so
        on the socket) or that broke is replaced. The lock and the recorder keep their own."""
        local = self._sessions
        connection = getattr(local, "connection", None)
        depth = getattr(local, "depth", 0)
        if depth == 0 and connection is not None and not _sound(connection):
            with contextlib.suppress(Exception):
                connection.close()
            connection = None
        if connection is None:
            connection = self.connect(purpose)
            local.connection = connection
        local.depth = depth + 1
        try:
            yield connection
        except BaseException:
            if depth == 0:
                _end_session_use(connection, commit=False)
            raise
        else:
            if depth == 0:
                _end_session_use(connection, commit=True)
        finally:
            local.depth = depth

    def _migrate(self, connection: "psycopg.Connection[Any]") -> None:
        with connection.transaction():
            connection.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, MIGRATION_LOCK)
            )
            connection.execute("CREATE SCHEMA IF NOT EXISTS fluentcart")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS fluentcart.schema_migrations"
                " (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            row = connection.execute(
                "SELECT coalesce(max(version), 0) FROM fluentcart.schema_migrations"
            ).fetchone()
            current = row[0] if row else 0
            if current > SCHEMA_VERSION:
                raise StateError(
                    f"the state database {shown_location(self.location)} has schema version"
                    f" {current}, newer than this fluentcart's {SCHEMA_VERSION}: upgrade"
                    " fluentcart"
                )
            for version, sql in MIGRATIONS:
                if version > current:
                    connection.execute(sql)
                    connection.execute(
                        "INSERT INTO fluentcart.schema_migrations (version) VALUES (%s)", (version,)
                    )

    def workspace_id(self, create: bool = False) -> int:
        if self._workspace_id is not None:
            return self._workspace_id
        # Its own commit must not end a transaction the session is in the middle of.
        in_use = getattr(self._sessions, "depth", 0) > 0
        with (self.connect if in_use else self.session)("fluentcart") as connection:
            row = connection.execute(
                "SELECT id FROM fluentcart.workspace WHERE name = %s", (self.workspace,)
            ).fetchone()
            if row is None and create:
                row = (
                    connection.execute(
                        "INSERT INTO fluentcart.workspace (name, lineage, serial, tool_version)"
                        " VALUES (%s, %s, 0, %s) ON CONFLICT (name) DO NOTHING RETURNING id",
                        (self.workspace, str(uuid.uuid4()), __version__),
                    ).fetchone()
                    or connection.execute(
                        "SELECT id FROM fluentcart.workspace WHERE name = %s", (self.workspace,)
                    ).fetchone()
                )
                connection.commit()
        if row is None:
            raise StateError(f"there is no state yet in {self.display}")
        self._workspace_id = int(row[0])
        return self._workspace_id

    # ---- StateStorage ---------------------------------------------------------------------

    def read(self, slim: bool = False) -> tuple[StateFile | None, int]:
        with self.session("fluentcart read") as connection:
            return self._read(connection, slim), 0

    @jsontext.many_objects()
    def _read(self, connection: "psycopg.Connection[Any]", slim: bool = False) -> StateFile | None:
        """One consistent snapshot (REPEATABLE READ); None when the workspace has no state.

        `slim` reads only the fields a plan compares of each customer (PLAN_FIELDS, kept in
        their own column): a read-only command's state, never written back."""
        psycopg = _driver()
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with connection.transaction():
            head = connection.execute(
                "SELECT id, lineage, serial, site, name_mode, tool_version, labels"
                " FROM fluentcart.workspace WHERE name = %s",
                (self.workspace,),
            ).fetchone()
            if head is None or head[2] == 0:
                return None
            self._workspace_id = int(head[0])
            # As text, decoded here in C (jsontext.loads): psycopg's jsonb loader costs a
            # Python json.loads call per value, most of the read at 100,000 customers.
            # Streamed in chunks, decoded while the server sends the rest.
            observed = "plan_fields" if slim else "observed"
            versions: dict[int, int] = {}
            customers: dict[int, CustomerRecord] = {}
            for customer_id, record, observed_at, applied, version in _streamed(
                connection,
                f"SELECT customer_id, {observed}::text, observed_at, last_applied::text, version"
                " FROM fluentcart.customer WHERE workspace_id = %s ORDER BY customer_id",
                (head[0],),
            ):
                versions[customer_id] = version
                customers[customer_id] = CustomerRecord(
                    _from_jsonb_text(record), observed_at, _from_jsonb_text(applied)
                )
        self.versions = versions
        state = StateFile(
            lineage=str(head[1]),
            serial=int(head[2]),
            site=head[3],
            name_mode=NameMode(head[4]) if head[4] else None,
            tool_version=head[5],
            customers=customers,
            labels=Catalog.from_json(head[6]),
        )
        state.sha256 = self._identity(state)
        return state

    def _identity(self, state: StateFile) -> str:
        """What stands for a file's sha256 here: a digest of the lineage, the serial and
        every customer's version, which moves whenever any recorded customer changes (and
        costs nothing like serializing the whole state)."""
        versions = ",".join(f"{cid}:{self.versions.get(cid)}" for cid in sorted(state.customers))
        return _sha256(f"{state.lineage}:{state.serial}:{versions}".encode())

    def recorded_name_mode(self) -> NameMode | None:
        with self.session("fluentcart") as connection:
            row = connection.execute(
                "SELECT name_mode FROM fluentcart.workspace WHERE name = %s", (self.workspace,)
            ).fetchone()
        return NameMode(row[0]) if row and row[0] else None

    def warnings(self) -> list[str]:
        return []

    def lock(self, operation: str, timeout: float = 0.0) -> PostgresLock:
        return PostgresLock(self, operation, timeout)

    def holder(self) -> LockInfo | None:
        """The run holding the workspace's lock, from pg_locks and the run table."""
        with self.session("fluentcart") as connection:
            row = connection.execute(
                "SELECT r.holder FROM pg_locks l JOIN fluentcart.run r"
                " ON (r.holder->>'backend_pid')::int = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s"
                " AND r.workspace_id = %s AND r.finished_at IS NULL ORDER BY r.id DESC LIMIT 1",
                (LOCK_NAMESPACE, self.workspace_id(), self.workspace_id()),
            ).fetchone()
        if row is None:
            return None
        holder = dict(row[0])
        holder.pop("backend_pid", None)
        return LockInfo(**holder)

    def force_unlock(
        self,
        lock_id: str,
        force: bool = False,
        confirm: Callable[[LockInfo], bool] = lambda holder: True,
    ) -> LockInfo:
        with self.connect("fluentcart force-unlock") as connection:
            row = connection.execute(
                "SELECT id, holder FROM fluentcart.run WHERE workspace_id = %s"
                " AND holder->>'id' = %s AND finished_at IS NULL",
                (self.workspace_id(), lock_id),
            ).fetchone()
            if row is None:
                current = self.holder()
                raise LockError(
                    "the lock id does not match: the current "
                    + (current.describe() if current else "state is not locked")
                )
            holder = dict(row[1])
            pid = holder.pop("backend_pid", None)
            current = self.holder()
            if current is not None and current.id == lock_id:  # its session holds the lock
                check_release(current, force, confirm)
            connection.execute("SELECT pg_terminate_backend(%s)", (pid,))
            connection.execute(
                "UPDATE fluentcart.run SET finished_at = now(), status = 'force-unlocked'"
                " WHERE id = %s",
                (row[0],),
            )
            connection.commit()
        return LockInfo(**holder)

    def recover(self, fresh: StateFile) -> tuple[StateFile | None, StateFile, int]:
        with self.session("fluentcart") as connection:
            on_disk = self._read(connection)
        working = on_disk.working_copy() if on_disk is not None else fresh
        if on_disk is None:
            working.lineage = self._lineage()
        self.recorded = {}
        self.earlier = on_disk.customers if on_disk is not None else {}
        return on_disk, working, 0

    def unresolved(self) -> list[int]:
        """Customers whose PUT was sent by a run that died before recording the answer."""
        with self.session("fluentcart") as connection:
            rows = connection.execute(
                "SELECT customer_id FROM fluentcart.pending_op WHERE workspace_id = %s"
                " ORDER BY customer_id",
                (self.workspace_id(),),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def resolve(self, records: dict[int, CustomerRecord], customer_ids: list[int]) -> None:
        """Record the customers read again and clear every one of these intents, in one
        transaction: a run that stops after this has lost nothing."""
        with self._writing(
            "fluentcart", "the customers read again were not recorded; their intents are left"
        ) as connection:
            self.write_customers(connection, dict(sorted(records.items())), "re-read")
            connection.execute(
                "DELETE FROM fluentcart.pending_op WHERE workspace_id = %s"
                " AND customer_id = ANY(%s)",
                (self.workspace_id(), customer_ids),
            )
        self.recorded.update(records)  # written: persist must not write them again

    def _lineage(self) -> str:
        with self.session("fluentcart") as connection:
            row = connection.execute(
                "SELECT lineage FROM fluentcart.workspace WHERE id = %s", (self.workspace_id(),)
            ).fetchone()
        return str(row[0]) if row else str(uuid.uuid4())

    def recorder(self, workers: int = 1) -> PostgresRecorder:
        return PostgresRecorder(self, workers)

    def write_customer(
        self,
        connection: "psycopg.Connection[Any]",
        customer_id: int,
        record: CustomerRecord | None,
        op: str,
    ) -> None:
        """Record one customer's new version (None: removed), in the caller's transaction.

        The row changes only if its version is still the one this run read; otherwise
        another writer got there first, which is reported and never overwritten.
        """
        workspace_id = self.workspace_id()
        known = self.versions.get(customer_id)
        columns = _columns(record)  # encoded once, for the row and its history
        observed, _, observed_at, last_applied = columns
        if record is None:
            cursor = connection.execute(
                "DELETE FROM fluentcart.customer WHERE workspace_id = %s AND customer_id = %s"
                " AND version = %s",
                (workspace_id, customer_id, known),
            )
            version = (known or 0) + 1
        elif known is None:
            cursor = connection.execute(
                "INSERT INTO fluentcart.customer (workspace_id, customer_id, observed,"
                " plan_fields, observed_at, last_applied, version, run_id) VALUES (%s, %s, %s,"
                " %s, %s, %s, coalesce((SELECT max(version) FROM fluentcart.customer_version"
                " WHERE workspace_id = %s AND customer_id = %s), 0) + 1, %s)"
                " ON CONFLICT DO NOTHING RETURNING version",
                (workspace_id, customer_id, *columns, workspace_id, customer_id, self.run_id),
            )
            row = cursor.fetchone()
            version = int(row[0]) if row else 0
        else:
            cursor = connection.execute(
                "UPDATE fluentcart.customer SET observed = %s, plan_fields = %s,"
                " observed_at = %s, last_applied = %s, version = version + 1, run_id = %s"
                " WHERE workspace_id = %s AND customer_id = %s AND version = %s",
                (*columns, self.run_id, workspace_id, customer_id, known),
            )
            version = known + 1
        if cursor.rowcount != 1:
            raise StateError(_moved(customer_id, self.display))
        connection.execute(
            "INSERT INTO fluentcart.customer_version (workspace_id, customer_id, version,"
            " observed, observed_at, last_applied, op, run_id) VALUES (%s, %s, %s, %s, %s, %s,"
            " %s, %s)",
            (
                workspace_id,
                customer_id,
                version,
                observed,
                observed_at,
                last_applied,
                op,
                self.run_id,
            ),
        )
        if record is None:
            self.versions.pop(customer_id, None)
            connection.execute(
                "DELETE FROM fluentcart.pending_op WHERE workspace_id = %s AND customer_id = %s",
                (workspace_id, customer_id),
            )
        else:
            self.versions[customer_id] = version

    @jsontext.many_objects()
    def write_customers(
        self,
        connection: "psycopg.Connection[Any]",
        records: Mapping[int, CustomerRecord | None],
        op: str,
    ) -> None:
        """`write_customer` for many customers at once, in the caller's transaction: the
        records go to the server with COPY and four set statements apply them, with the
        same rule (a row changes only at the version this run read; any that moved stops
        it all, naming them)."""
        if len(records) < BULK_MIN:
            for customer_id, record in records.items():
                self.write_customer(connection, customer_id, record, op)
            return
        workspace_id = self.workspace_id()
        first = self._first_versions(connection, records)
        if first is not None:
            self._copy_first(connection, first, op)
            return
        connection.execute(
            "CREATE TEMP TABLE IF NOT EXISTS fluentcart_incoming (customer_id bigint PRIMARY"
            " KEY, known bigint, observed jsonb, plan_fields jsonb, observed_at text,"
            " last_applied jsonb)"
        )
        connection.execute("TRUNCATE fluentcart_incoming")
        with connection.cursor().copy(
            "COPY fluentcart_incoming (customer_id, known, observed, plan_fields, observed_at,"
            " last_applied) FROM STDIN"
        ) as copy:
            for customer_id, record in records.items():
                copy.write_row((customer_id, self.versions.get(customer_id), *_columns(record)))
        removed = {cid for cid, record in records.items() if record is None}
        updated = {cid for cid in records if cid not in removed and cid in self.versions}
        inserted = set(records) - removed - updated
        done: set[int] = set()
        for statement, expected in (
            (
                "DELETE FROM fluentcart.customer c USING fluentcart_incoming i"
                " WHERE c.workspace_id = %(w)s AND c.customer_id = i.customer_id"
                " AND i.observed IS NULL AND c.version = i.known RETURNING c.customer_id",
                removed,
            ),
            (
                "UPDATE fluentcart.customer c SET observed = i.observed, plan_fields ="
                " i.plan_fields, observed_at = i.observed_at, last_applied = i.last_applied, version = c.version + 1,"
                " run_id = %(r)s FROM fluentcart_incoming i WHERE c.workspace_id = %(w)s"
                " AND c.customer_id = i.customer_id AND i.observed IS NOT NULL"
                " AND c.version = i.known RETURNING c.customer_id",
                updated,
            ),
            (
                "INSERT INTO fluentcart.customer (workspace_id, customer_id, observed,"
                " plan_fields, observed_at, last_applied, version, run_id) SELECT %(w)s,"
                " i.customer_id, i.observed, i.plan_fields, i.observed_at, i.last_applied, coalesce((SELECT max(v.version)"
                " FROM fluentcart.customer_version v WHERE v.workspace_id = %(w)s AND"
                " v.customer_id = i.customer_id), 0) + 1, %(r)s FROM fluentcart_incoming i"
                " WHERE i.known IS NULL AND i.observed IS NOT NULL ON CONFLICT DO NOTHING"
                " RETURNING customer_id",
                inserted,
            ),
        ):
            if not expected:
                continue
            found = {
                int(row[0])
                for row in connection.execute(
                    statement, {"w": workspace_id, "r": self.run_id}
                ).fetchall()
            }
            done |= found
            if found != expected:
                moved = sorted(expected - found)
                shown = ", ".join(map(str, moved[:10])) + (" ..." if len(moved) > 10 else "")
                raise StateError(
                    f"customer(s) {shown} were changed in {self.display} by another run since"
                    " this one read them; nothing of this run overwrote them. Plan again."
                )
        versions = connection.execute(
            "INSERT INTO fluentcart.customer_version (workspace_id, customer_id, version,"
            " observed, observed_at, last_applied, op, run_id) SELECT %(w)s, i.customer_id,"
            " coalesce(c.version, i.known + 1), i.observed, i.observed_at, i.last_applied,"
            " %(op)s, %(r)s FROM fluentcart_incoming i LEFT JOIN fluentcart.customer c"
            " ON c.workspace_id = %(w)s AND c.customer_id = i.customer_id"
            " RETURNING customer_id, version",
            {"w": workspace_id, "r": self.run_id, "op": op},
        ).fetchall()
        for customer_id, version in versions:
            if int(customer_id) in removed:
                self.versions.pop(int(customer_id), None)
            else:
                self.versions[int(customer_id)] = int(version)
        if removed:
            connection.execute(
                "DELETE FROM fluentcart.pending_op WHERE workspace_id = %s"
                " AND customer_id = ANY(%s)",
                (workspace_id, sorted(removed)),
            )
        connection.execute("TRUNCATE fluentcart_incoming")

    def _first_versions(
        self, connection: "psycopg.Connection[Any]", records: Mapping[int, CustomerRecord | None]
    ) -> dict[int, CustomerRecord] | None:
        """The records, when each is the first version of its customer: nothing recorded in
        the workspace, now or ever (no history), and nothing removed (a migrate or push
        into a new workspace); None otherwise."""
        first = {cid: record for cid, record in records.items() if record is not None}
        if self.versions or len(first) != len(records):
            return None
        row = connection.execute(
            "SELECT EXISTS (SELECT 1 FROM fluentcart.customer_version WHERE workspace_id = %s)",
            (self.workspace_id(),),
        ).fetchone()
        return first if row is not None and not row[0] else None

    def _copy_first(
        self, connection: "psycopg.Connection[Any]", records: Mapping[int, CustomerRecord], op: str
    ) -> None:
        """The first versions of many customers, straight into the customer table with COPY
        and from there into the history: half the server's work of the staged path (at
        100,000 customers, 2 s of a migrate's 6 s). A customer another run recorded since
        this one looked breaks the primary key, which rolls the whole transaction back."""
        workspace_id = self.workspace_id()
        with connection.cursor().copy(
            "COPY fluentcart.customer (workspace_id, customer_id, observed, plan_fields,"
            " observed_at, last_applied, version, run_id) FROM STDIN"
        ) as copy:
            for customer_id, record in records.items():
                copy.write_row((workspace_id, customer_id, *_columns(record), 1, self.run_id))
        connection.execute(
            "INSERT INTO fluentcart.customer_version (workspace_id, customer_id, version,"
            " observed, observed_at, last_applied, op, run_id) SELECT workspace_id,"
            " customer_id, version, observed, observed_at, last_applied, %s, run_id"
            " FROM fluentcart.customer WHERE workspace_id = %s",
            (op, workspace_id),
        )
        self.versions.update(dict.fromkeys(records, 1))

    def persist(self, state: StateFile, previous: StateFile | None) -> bool:
        state.customers.update(self.recorded)
        before = previous.customers if previous is not None else {}
        changed = {
            cid: record
            for cid, record in state.customers.items()
            if before.get(cid) != record and self.recorded.get(cid) != record
        }
        removed = [cid for cid in before if cid not in state.customers]
        content_moved = previous is None or not previous.same_content(state)
        if not content_moved:
            return False
        serial = (previous.serial if previous is not None else 0) + 1
        with self._writing(
            "fluentcart persist", "the run's end was not recorded; what it recorded before is kept"
        ) as connection:
            self.write_customers(connection, dict(sorted(changed.items())), "record")
            self.write_customers(connection, dict.fromkeys(removed), "forget")
            connection.execute(
                "UPDATE fluentcart.workspace SET serial = %s, site = %s, name_mode = %s,"
                " tool_version = %s, lineage = %s, labels = %s::jsonb WHERE id = %s",
                (
                    serial,
                    state.site,
                    str(state.name_mode) if state.name_mode else None,
                    __version__,
                    state.lineage,
                    _catalog(state),
                    self.workspace_id(),
                ),
            )
        state.serial = serial
        state.tool_version = __version__
        state.sha256 = self._identity(state)
        self.recorded = {}
        return True

    keeps_history = True

    def history(self, customer_id: int) -> list[RecordVersion]:
        with self.session("fluentcart") as connection:
            found = connection.execute(
                "SELECT v.version, v.observed, v.observed_at, v.last_applied, v.recorded_at, v.op,"
                " r.kind, r.holder, r.git_commit FROM fluentcart.customer_version v"
                " LEFT JOIN fluentcart.run r ON r.id = v.run_id"
                " WHERE v.workspace_id = %s AND v.customer_id = %s ORDER BY v.version",
                (self.workspace_id(), customer_id),
            ).fetchall()
        entries = []
        for version, observed, observed_at, last_applied, at, op, kind, holder, commit in found:
            record = (
                None
                if observed is None
                else CustomerRecord(_from_jsonb(observed), observed_at, _from_jsonb(last_applied))
            )
            who = f"{holder.get('who')}@{holder.get('hostname')}" if holder else "unknown"
            run = (
                f"{kind} by {who}" + (f", commit {commit[:12]}" if commit else "")
                if kind
                else "a run since removed"
            )
            entries.append(
                RecordVersion(int(version), record, at.isoformat(timespec="seconds"), op, run)
            )
        return entries

    def purge(self, customer_ids: list[int]) -> None:
        with self.session("fluentcart purge") as connection, connection.transaction():
            for table in ("customer_version", "pending_op", "customer"):
                connection.execute(
                    f"DELETE FROM fluentcart.{table} WHERE workspace_id = %s"
                    " AND customer_id = ANY(%s)",
                    (self.workspace_id(), customer_ids),
                )

    def replace(self, state: StateFile) -> None:
        """The stored state becomes `state`, lineage and serial included, in one transaction;
        each customer that differs gets a new version (op 'push')."""
        self.check_locked()
        with (
            self.failing("the state was not replaced"),
            self.session("fluentcart replace") as connection,
        ):
            current = self._read(connection)  # also loads the versions
            before = current.customers if current is not None else {}
            with connection.transaction():
                changed: dict[int, CustomerRecord | None] = {
                    cid: record
                    for cid, record in sorted(state.customers.items())
                    if before.get(cid) != record
                }
                changed.update(dict.fromkeys(sorted(set(before) - set(state.customers))))
                self.write_customers(connection, changed, "push")
                connection.execute(
                    "UPDATE fluentcart.workspace SET serial = %s, site = %s, name_mode = %s,"
                    " tool_version = %s, lineage = %s, labels = %s::jsonb WHERE id = %s",
                    (
                        state.serial,
                        state.site,
                        str(state.name_mode) if state.name_mode else None,
                        state.tool_version,
                        state.lineage,
                        _catalog(state),
                        self.workspace_id(),
                    ),
                )
        state.sha256 = self._identity(state)


# jsonb cannot hold the NUL character (PostgreSQL's text type has none), which a JSON file
# and a store can. A record with one is kept as its JSON text, wrapped under this key, and
# given back unchanged: nothing the store returned is lost or altered.
_WRAPPED = "fluentcart:json-text"


# An answer's statement while the lock's session is quiet (PostgresRecorder._send): the row
# at the version this run read ($3), its history row, its intent cleared; no row back: the
# version moved. Prepared once on each of the recorder's connections.
RECORD = (
    "PREPARE fluentcart_record (bigint, bigint, bigint, bigint, jsonb, jsonb, text, jsonb) AS"
    " WITH u AS (UPDATE fluentcart.customer SET observed = $5, plan_fields = $6,"
    " observed_at = $7, last_applied = $8, version = version + 1, run_id = $4"
    " WHERE workspace_id = $1 AND customer_id = $2 AND version = $3 RETURNING version),"
    " h AS (INSERT INTO fluentcart.customer_version (workspace_id, customer_id, version,"
    " observed, observed_at, last_applied, op, run_id) SELECT $1, $2, version, $5, $7, $8,"
    " 'apply', $4 FROM u),"
    " d AS (DELETE FROM fluentcart.pending_op WHERE workspace_id = $1 AND customer_id = $2"
    " AND EXISTS (SELECT 1 FROM u))"
    " SELECT version FROM u"
)


def _unrecorded(customer_id: int) -> str:
    return (
        f"the store's answer for customer {customer_id} is not recorded; its intent is left,"
        " so the next run reads it from the store again"
    )


def _moved(customer_id: int, display: str) -> str:
    return (
        f"customer {customer_id} was changed in {display} by another run since this one read"
        " it; nothing of this run overwrote it. Plan again."
    )


def _text(number: int | None) -> bytes | None:
    return None if number is None else str(number).encode()


def _wait_for(fileno: int, event: int) -> None:
    """Until the socket is ready for `event` (or in error: the next libpq call says why)."""
    poller = select.poll()
    poller.register(fileno, event)
    poller.poll()


def _catalog(state: StateFile) -> str | None:
    return _to_jsonb(state.labels.to_json()) if state.labels is not None else None


def _to_jsonb(value: Any) -> str:
    text = jsontext.for_database(value)
    if "\\u0000" in text:
        return json.dumps({_WRAPPED: json.dumps(value)})
    return text


def _columns(
    record: CustomerRecord | None,
) -> tuple[str | None, str | None, str | None, str | None]:
    """A record as the customer table's columns: observed, plan_fields, observed_at and
    last_applied (the history takes the first, third and fourth); all None for a removal."""
    if record is None:
        return None, None, None, None
    return (
        _to_jsonb(record.observed),
        _to_jsonb(_plan_fields(record.observed)),
        record.observed_at,
        _to_jsonb(record.last_applied),
    )


def _plan_fields(observed: dict[str, Any]) -> dict[str, Any]:
    return {key: observed[key] for key in PLAN_FIELDS if key in observed}


def _from_jsonb(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and _WRAPPED in value:
        return json.loads(value[_WRAPPED])
    return value


def _from_jsonb_text(text: str) -> Any:
    return _from_jsonb(jsontext.loads(text))


def _streamed(
    connection: "psycopg.Connection[Any]", query: str, params: tuple[Any, ...]
) -> Iterator[tuple[Any, ...]]:
    """The rows of `query`, in chunks as the server sends them where libpq can (17 and
    later, which psycopg's binary package bundles), else all at once."""
    psycopg = _driver()
    if psycopg.pq.version() >= 170000:
        yield from connection.cursor().stream(query, params, size=STREAM_ROWS)
    else:
        yield from connection.execute(query, params).fetchall()


def _sound(connection: "psycopg.Connection[Any]") -> bool:
    """An idle connection still usable: open, not broken, and nothing from the server on
    its socket (which, while idle, is the notice that the server ended the session)."""
    if connection.closed or connection.broken:
        return False
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _end_session_use(connection: "psycopg.Connection[Any]", commit: bool) -> None:
    psycopg = _driver()
    if connection.closed:
        return
    try:
        if commit:
            connection.commit()
        else:
            connection.rollback()
        connection.isolation_level = None  # a snapshot read asked for REPEATABLE READ
    except psycopg.Error:
        with contextlib.suppress(Exception):
            connection.close()  # the next use opens another
        if commit:
            raise


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
