"""A real PostgreSQL 15 for the tests of the PostgreSQL state backend (never a mock).

Started once per test session in a temporary directory, on a free loopback port, as the
`postgres` user when the tests run as root (initdb refuses root), and stopped at the end.
Host connections need a password (scram-sha-256), given as PGPASSWORD as a user would.

Without PostgreSQL 15 (Debian's postgresql-15) the tests that need it are skipped, saying
so; with FLUENTCART_REQUIRE_POSTGRES set (as .ci/run sets it) they fail instead.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "fluentcart"


@dataclass(frozen=True)
class Server:
    port: int
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(database), password=self.password, autocommit=True) as c:
            cursor = c.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        return name


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start() -> tuple[Server, Path]:
    if not (BIN / "initdb").exists():
        message = (
            "PostgreSQL 15 is not installed (apt-get install postgresql-15): the PostgreSQL"
            " state backend's tests are skipped"
        )
        if os.environ.get("FLUENTCART_REQUIRE_POSTGRES"):
            pytest.fail(message.replace("are skipped", "cannot run, and CI requires them"))
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="fluentcart-pg-"))
    password = uuid.uuid4().hex
    (base / "pw").write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(base / "pw", "postgres")
    data = base / "data"
    subprocess.run(
        _as_postgres(
            [
                str(BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={base / 'pw'}",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [
                str(BIN / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(base / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    return Server(port, password), base


def stop(base: Path) -> None:
    subprocess.run(
        _as_postgres([str(BIN / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "stop"]),
        capture_output=True,
    )
    shutil.rmtree(base, ignore_errors=True)
