"""`fluentcart sandbox --data FILE`: the store kept on disk, across restarts and crashes."""

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from reconciler.main import cli
from reconciler.sandbox import DataFile, Sandbox, Store
from reconciler.sandbox.datafile import DataFileError
from reconciler.sandbox.server import default_users
from reconciler.sandbox.store import FIRST_LAST
from tests.conftest import PASSWORD, seed_customer

SITE = "http://127.0.0.1"
CUSTOMERS = "/wp-json/fluent-cart/v2/customers"
AUTH = ("admin", PASSWORD)


def new_store(name_mode: str = "full_name") -> Store:
    store = Store(SITE, name_mode, default_users("admin", PASSWORD))
    store.seed(seed_customer(1))
    store.seed(seed_customer(2, user_id="2", email="jane.linked@example.test"))
    store.seed(seed_customer(3))
    return store


def existing() -> Store:
    pytest.fail("the data file should have been there")


def held(store: Store) -> dict[str, Any]:
    """Everything a store holds that a request can change."""
    return {
        "customers": {i: dict(row) for i, row in store.customers.items()},
        "users": {i: asdict(user) for i, user in store.users.items()},
        "next_id": store.next_id,
        "name_mode": store.name_mode,
    }


def put(sandbox: Sandbox, customer_id: int, **fields: Any) -> requests.Response:
    row = sandbox.store.customers[customer_id]
    body = {
        "id": customer_id,
        "email": row["email"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "full_name": f"{row['first_name']} {row['last_name']}",
        "user_id": int(row["user_id"]),
        **{k: row[k] for k in ("status", "notes", "city", "state", "postcode", "country", "aov")},
        **fields,
    }
    return requests.put(f"{sandbox.url}{CUSTOMERS}/{customer_id}", json=body, auth=AUTH, timeout=5)


def test_a_restart_keeps_the_store_and_every_change_made_through_the_api(tmp_path: Path) -> None:
    path = tmp_path / "store.jsonl"
    with (
        DataFile.open(path, SITE, lambda: new_store(FIRST_LAST)) as data,
        Sandbox(data.store) as sandbox,
    ):
        assert data.created
        assert put(sandbox, 1, city="Oslo").status_code == 200
        # A linked customer: wp_update_user renames its WordPress user too.
        assert put(sandbox, 2, first_name="Janet", last_name="Lee").status_code == 200
        created = requests.post(
            sandbox.url + CUSTOMERS,
            json={"email": "new@example.org", "first_name": "New", "last_name": "One"},
            auth=AUTH,
            timeout=5,
        )
        assert created.json()["data"]["id"] == 4
        deleted = requests.post(
            f"{sandbox.url}{CUSTOMERS}/do-bulk-action",
            json={"action": "delete_customers", "customer_ids": [3, 4]},
            auth=AUTH,
            timeout=5,
        )
        assert deleted.status_code == 200
        before = held(data.store)
    assert before["users"][2]["display_name"] == "Janet Lee"

    with DataFile.open(path, SITE, existing) as data, Sandbox(data.store) as sandbox:
        assert not data.created
        assert held(data.store) == before  # timestamps, uuids, users, next id, name mode
        created = requests.post(
            sandbox.url + CUSTOMERS,
            json={"email": "again@example.org", "first_name": "Again"},
            auth=AUTH,
            timeout=5,
        )
        assert created.json()["data"]["id"] == 5  # the deleted 4 is not given out again
        assert put(sandbox, 1, city="Bergen").status_code == 200
        after = held(data.store)
    with DataFile.open(path, SITE, existing) as data:
        assert held(data.store) == after


def test_labels_addresses_and_the_name_mode_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "store.jsonl"
    api = CUSTOMERS.removesuffix("/customers")
    with DataFile.open(path, SITE, new_store) as data, Sandbox(data.store) as sandbox:

        def call(method: str, route: str, body: dict) -> requests.Response:
            return requests.request(
                method, sandbox.url + api + route, json=body, auth=AUTH, timeout=5
            )

        assert call(
            "POST", "/labels", {"value": "VIP", "bind_to_type": "Customer", "bind_to_id": "1"}
        ).ok
        assert call("POST", "/labels", {"value": "  VIP  "}).status_code == 500  # uses id 2
        address = {"name": "A", "email": "a@example.org", "address_1": "1 St", "city": "Oslo",
                   "country": "NO", "type": "billing"}  # fmt: skip
        assert call("POST", "/customers/1/address", address).ok
        assert call("POST", "/customers/1/address", {**address, "city": "Bergen"}).ok
        assert call("DELETE", "/customers/1/address", {"address": {"id": 2}}).ok
        fields = {"settings": {"basic_info": {"first_name": {"enabled": "yes"}}}}
        assert call("POST", "/checkout-fields/save-fields", fields).ok
        before = held(data.store), dict(data.store.tables), dict(data.store.counters)
        option = data.store.checkout_fields
    assert before[0]["name_mode"] == FIRST_LAST

    with DataFile.open(path, SITE, existing) as data:
        after = held(data.store), dict(data.store.tables), dict(data.store.counters)
        assert after == before
        assert data.store.checkout_fields == option
        assert data.store.counters == {"label": 3, "label_link": 2, "address": 3}


def test_a_version_1_file_is_read_and_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "store.jsonl"
    with DataFile.open(path, SITE, new_store) as data:
        before = held(data.store)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    header["version"] = 1
    # Version 1 had no nickname for users, no rows, counters or checkout fields.
    old = [json.loads(line) for line in lines[1:]]
    for record in old:
        record.get("user", {}).pop("nickname", None)
    old = [r for r in old if set(r) & {"user", "customer"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in [header, *old]))
    with DataFile.open(path, SITE, existing) as data:
        assert held(data.store) == before
    assert json.loads(path.read_text().splitlines()[0])["version"] == 2


def test_an_unchanged_put_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "store.jsonl"
    with DataFile.open(path, SITE, new_store) as data, Sandbox(data.store) as sandbox:
        size = path.stat().st_size
        assert put(sandbox, 1).status_code == 200
        assert path.stat().st_size == size
        assert put(sandbox, 1, city="Oslo").status_code == 200
        assert path.stat().st_size > size


def test_an_answered_change_is_on_disk_before_the_answer_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.jsonl"
    real_fsync = os.fsync
    synced: list[bytes] = []

    def slow_fsync(fd: int) -> None:
        time.sleep(0.3)  # a write that lags behind the answer would now be seen missing
        real_fsync(fd)
        if os.path.samestat(os.fstat(fd), path.stat()):
            synced.append(path.read_bytes())

    with DataFile.open(path, SITE, new_store) as data, Sandbox(data.store) as sandbox:
        monkeypatch.setattr(os, "fsync", slow_fsync)
        assert put(sandbox, 1, city="Oslo").status_code == 200
        assert synced and b'"city":"Oslo"' in synced[-1]


def test_a_failed_write_leaves_the_file_and_the_store_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.jsonl"
    real_write = os.write

    def disk_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    with DataFile.open(path, SITE, new_store) as data, Sandbox(data.store) as sandbox:
        assert put(sandbox, 1, city="Oslo").status_code == 200
        whole = path.read_bytes()
        before = held(data.store)
        with monkeypatch.context() as patch:
            patch.setattr(os, "write", disk_full)
            answer = put(sandbox, 1, city="Paris")
        assert answer.status_code == 500
        assert answer.json()["message"] == (
            f"{path}: cannot write the sandbox store: No space left on device"
        )
        assert "No space left on device" in capsys.readouterr().err
        assert path.read_bytes() == whole
        assert held(data.store) == before
        assert put(sandbox, 1, city="Lyon").status_code == 200  # the disk has room again
    with DataFile.open(path, SITE, existing) as data:
        assert data.store.customers[1]["city"] == "Lyon"


def test_a_partial_line_that_cannot_be_cut_back_stops_every_later_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.jsonl"
    real_write = os.write

    def disk_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def refused(fd: int, length: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with DataFile.open(path, SITE, new_store) as data, Sandbox(data.store) as sandbox:
        with monkeypatch.context() as patch:
            patch.setattr(os, "write", disk_full)
            patch.setattr(os, "ftruncate", refused)
            assert put(sandbox, 1, city="Paris").status_code == 500
        assert put(sandbox, 1, city="Lyon").status_code == 500
        assert data.store.customers[1]["city"] == ""
    with DataFile.open(path, SITE, existing) as data:  # the partial line is dropped
        assert data.store.customers[1]["city"] == ""


def test_a_torn_last_line_is_dropped_and_the_file_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "store.jsonl"
    with DataFile.open(path, SITE, new_store) as data:
        before = held(data.store)
    line = json.dumps({"customer": {**before["customers"][1], "city": "Torn"}})
    with path.open("ab") as handle:  # what a sandbox killed while appending leaves
        handle.write(line[: len(line) // 2].encode())
    with DataFile.open(path, SITE, existing) as data, Sandbox(data.store) as sandbox:
        assert held(data.store) == before
        assert path.read_bytes().endswith(b"\n")
        assert put(sandbox, 1, city="Lyon").status_code == 200
    with DataFile.open(path, SITE, existing) as data:
        assert data.store.customers[1]["city"] == "Lyon"


def test_a_failed_rewrite_at_start_up_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.jsonl"
    with DataFile.open(path, SITE, new_store) as data, Sandbox(data.store) as sandbox:
        assert put(sandbox, 1, city="Oslo").status_code == 200
    whole = path.read_bytes()

    def crash(*args: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(DataFileError, match="cannot write the sandbox store: Input/output error"):
        DataFile.open(path, SITE, existing)
    assert path.read_bytes() == whole
    assert [p.name for p in tmp_path.iterdir()] == ["store.jsonl"]


def test_one_sandbox_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "store.jsonl"
    with (
        DataFile.open(path, SITE, new_store),
        pytest.raises(DataFileError, match="another sandbox is using this store"),
    ):
        DataFile.open(path, SITE, existing)
    with DataFile.open(path, SITE, existing):
        pass


# ---- the command --------------------------------------------------------------------------


@pytest.fixture
def sandbox_cli(monkeypatch: pytest.MonkeyPatch):
    """Run `fluentcart sandbox` in-process up to the point where it would serve."""
    monkeypatch.setattr(Sandbox, "serve_forever", lambda self: None)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["sandbox", "--port", "0", *args])

    return invoke


def test_a_new_file_is_seeded_and_private(tmp_path: Path, sandbox_cli) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("- id: 7\n  email: seven@example.org\n  full_name: Sam Seven\n  user_id: 9\n")
    path = tmp_path / "store.jsonl"
    result = sandbox_cli(
        "--data", str(path), "--seed", str(seed), "--customers", "2", "--name-mode", "first_last"
    )
    assert result.exit_code == 0, result.output
    assert f"Created the store in {path} (3 customers)." in result.output
    assert path.stat().st_mode & 0o777 == 0o600  # it holds application passwords
    with DataFile.open(path, SITE, existing) as data:
        assert sorted(data.store.customers) == [1, 2, 7]
        assert data.store.users[9].login == "user9"
        assert data.store.name_mode == FIRST_LAST


def test_an_existing_file_is_used_as_it_is(tmp_path: Path, sandbox_cli) -> None:
    path = tmp_path / "store.jsonl"
    first = sandbox_cli("--data", str(path), "--customers", "3")
    assert first.exit_code == 0, first.output
    whole = path.read_bytes()
    seed = tmp_path / "seed.json"
    seed.write_text('[{"id": 9, "email": "nine@example.org"}]')
    again = sandbox_cli(
        "--data", str(path), "--seed", str(seed), "--customers", "50", "--app-password", "other"
    )
    assert again.exit_code == 0, again.output
    assert (
        f"Using the store in {path} (3 customers); --seed, --customers, --app-password ignored."
        in again.output
    )
    assert path.read_bytes() == whole
    # The exports print the stored password, which still works; the one given does not.
    password = [line for line in first.output.splitlines() if "APP_PASSWORD=" in line]
    assert password and password[0] in again.output.splitlines()
    plain = sandbox_cli("--data", str(path))
    assert f"Using the store in {path} (3 customers).\n" in plain.output


def test_the_credentials_user_must_be_in_the_stored_store(tmp_path: Path, sandbox_cli) -> None:
    path = tmp_path / "store.jsonl"
    assert sandbox_cli("--data", str(path)).exit_code == 0
    result = sandbox_cli("--data", str(path), "--user", "maria")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path}: the store has no user 'maria' with an application password"
        " (users with one: admin, shopper); name one with --user\n"
    )


HEADER = '{"format":"fluentcart-sandbox","version":2,"name_mode":"full_name","next_id":1}\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", ": empty; not a sandbox store (remove it to start a new one)"),
        (b"customers: []\n", ":1: damaged sandbox store: not JSON (Expecting value)"),
        (b'{"customers": []}\n', ':1: not a sandbox store (its first line is {"format": '),
        (HEADER[:40].encode(), ":1: damaged sandbox store: not JSON (Expecting ':' delimiter)"),
        (
            HEADER.replace('"version":2', '"version":3').encode(),
            ": sandbox store version 3 is newer than this fluentcart reads (2)",
        ),
        (
            HEADER.replace("full_name", "both").encode(),
            ':1: damaged sandbox store: expected {"format": "fluentcart-sandbox", "version": 2,',
        ),
        (
            (HEADER + '{"customer": {"id": 1}}\n').encode(),
            ":2: damaged sandbox store: expected a customer with exactly the stored columns",
        ),
        (
            (HEADER + '{"user": {"id": 1}\n{"deleted": [1]}\n').encode(),
            ":2: damaged sandbox store: not JSON (Expecting ',' delimiter)",
        ),
        (
            (HEADER + '{"deleted": [1]}\n\xff\n').encode("latin-1"),
            ":3: damaged sandbox store: not JSON (not UTF-8)",
        ),
        (
            (HEADER + '{"orders": []}\n').encode(),
            ":2: damaged sandbox store: expected a record with any of checkout_fields, counters,",
        ),
    ],
    ids=[
        "empty",
        "yaml",
        "other-json",
        "torn-header",
        "newer",
        "header",
        "columns",
        "middle-line",
        "bytes",
        "record",
    ],
)
def test_a_damaged_file_is_an_error_naming_it(
    tmp_path: Path, sandbox_cli, content: bytes, message: str
) -> None:
    path = tmp_path / "store.jsonl"
    path.write_bytes(content)
    result = sandbox_cli("--data", str(path), "--customers", "2")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}{message}"), result.output
    assert "Traceback" not in result.output
    assert path.read_bytes() == content  # never replaced by a new store


def test_without_data_nothing_is_written(tmp_path: Path, sandbox_cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = sandbox_cli("--customers", "2")
    assert result.exit_code == 0
    assert "store in" not in result.output
    assert list(tmp_path.iterdir()) == []


# ---- a real process, killed ---------------------------------------------------------------


def start(path: Path) -> tuple[subprocess.Popen[str], str, str]:
    """A `fluentcart sandbox --data` process, its address and its admin's password."""
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--data", str(path), "--customers", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().split()[4]
    password = next(
        line.split("=", 1)[1].strip()
        for line in iter(process.stdout.readline, "")
        if "APP_PASSWORD=" in line
    )
    return process, url, password


def update_until_killed(url: str, password: str, answered: list[int]) -> None:
    """PUT customer 1's notes as n1, n2, ... one at a time; `answered` ends with the last 200."""
    session = requests.Session()
    session.auth = ("admin", password)
    body = {"id": 1, "email": "customer1@example.test", "full_name": "Ada Lovelace"}
    while True:
        n = answered[-1] + 1
        try:
            answer = session.put(f"{url}{CUSTOMERS}/1", json={**body, "notes": f"n{n}"}, timeout=5)
        except requests.RequestException:  # killed before or while answering
            return
        if answer.status_code == 200:
            answered.append(n)


def test_sigkill_at_any_moment_keeps_every_answered_change(tmp_path: Path) -> None:
    path = tmp_path / "store.jsonl"
    last = 0
    for round_ in range(3):
        process, url, password = start(path)
        answered = [last]
        worker = threading.Thread(target=update_until_killed, args=(url, password, answered))
        worker.start()
        time.sleep(0.3 + 0.2 * round_)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()  # type: ignore[union-attr]
        worker.join(timeout=10)
        assert answered[-1] > last
        with DataFile.open(path, SITE, existing) as data:
            notes = data.store.customers[1]["notes"]
        # Every answered change is there; at most the one in flight went further.
        assert notes in (f"n{answered[-1]}", f"n{answered[-1] + 1}")
        last = int(notes[1:])
