"""The file backend: the state as one JSON file in the workspace (the default).

Only this module reads and writes the state file and its companions:
- `<state>`: the state (statefile.py's canonical format), only ever replaced atomically
  (temporary file, fsync, rename, fsync of the directory), mode 0600;
- `<state>.backup`: the previous version, one generation;
- `<state>.journal`: one JSON line per customer an apply recorded (fsynced in groups as
  they come), folded into the state at the end of the run, or by the next run after a crash;
- `<state>.lock`: the flock that makes one writer at a time (lock.py).
"""

import contextlib
import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.atomicfile import write_atomic
from reconciler.errors import StateError
from reconciler.lock import LockInfo, StateLock, force_unlock
from reconciler.state import CustomerRecord, RecordVersion, StateFile, sharing_values
from reconciler.statefile import name_mode_in_head, parse, parse_streamed, serialize
from reconciler.workspace import NameMode


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".journal")


LARGE_STATE_BYTES = 50 * 1024 * 1024  # git warns past 50 MB; GitHub refuses files past 100 MB
_CONFLICT_MARKER = re.compile(rb"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)


def _has_conflict_marker(data: bytes) -> bool:
    # The anchored multiline pattern costs 0.5 s on a 126 MB state; `in` is a memchr scan.
    return any(mark * 7 in data for mark in (b"<", b"=", b">")) and bool(
        _CONFLICT_MARKER.search(data)
    )


def load_state(path: Path, display: str | None = None, slim: bool = False) -> StateFile | None:
    """The state at `path`, or None when there is none yet; StateError when it is unusable,
    including a file that git merged from two diverged runs."""
    shown = display or str(path)
    if slim:
        # A canonical file is read a chunk at a time (its bytes never all in memory); one that
        # is not, or has anything wrong with it, is read whole below, which says what.
        try:
            with path.open("rb") as handle:
                streamed = parse_streamed(handle)
        except FileNotFoundError:
            return None
        except OSError:
            streamed = None
        if streamed is not None:
            _refuse_diverged_merge(path, shown, streamed)
            return streamed
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{shown}: cannot read the state file: {exc.strerror or exc}") from None
    if _has_conflict_marker(data):
        raise StateError(
            f"{shown}: the state file holds git conflict markers: two runs wrote it on diverged"
            " branches and git could not merge them. Do not edit it by hand: take one side"
            f" (git checkout --ours {path.name} or --theirs), then `fluentcart refresh` reads"
            " the other run's customers from the store again."
        )
    backup = path.with_name(path.name + ".backup")
    hint = f"; the previous version is in {backup.name}" if backup.exists() else ""
    state = parse(data, shown, hint, slim)
    _refuse_diverged_merge(path, shown, state)
    return state


def _refuse_diverged_merge(path: Path, shown: str, state: StateFile) -> None:
    """Two runs from one state each wrote serial N on their own branch, and git merged the
    two texts without a conflict: the result is a state neither run wrote."""
    from reconciler.gitinfo import merge_parents_of

    merged = merge_parents_of(path)
    if merged is None:
        return
    commit, versions = merged
    heads = []
    for parent, text in versions:
        try:
            head = json.loads(text)
            heads.append((parent, head["lineage"], head["serial"], text))
        except (ValueError, KeyError, TypeError):
            return
    if len(heads) < 2 or len({(lineage, serial) for _, lineage, serial, _ in heads}) != 1:
        return
    if len({text for *_, text in heads}) == 1:
        return
    _, lineage, serial, _ = heads[0]
    if (state.lineage, state.serial) != (lineage, serial):
        return  # a run has written the state since the merge
    parents = " and ".join(parent[:12] for parent, *_ in heads)
    raise StateError(
        f"{shown}: git merged this state file in {commit[:12]} from two runs that each wrote"
        f" serial {serial} of the same state ({parents}): the result is a state neither run"
        " wrote, and fluentcart will not use it. Take one side (git checkout"
        f" {heads[0][0][:12]} -- {path.name}), then `fluentcart refresh` reads the other run's"
        " customers from the store again. For state a team shares, use the PostgreSQL backend."
    )


def save_state(path: Path, state: StateFile, previous: StateFile | None) -> bool:
    """Write `state` if its content differs from `previous`; bump the serial when it does.

    Returns whether anything was written.
    """
    if previous is not None and previous.same_content(state):
        return False
    state.serial = (previous.serial + 1) if previous is not None else max(state.serial, 1)
    state.tool_version = __version__
    data = serialize(state)
    try:
        write_atomic(path, data, backup=True)
    except OSError as exc:
        raise StateError(f"{path}: cannot write the state file: {exc.strerror or exc}") from None
    state.sha256 = hashlib.sha256(data).hexdigest()
    return True


def readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


class Journal:
    """Customers recorded during an apply, one JSON line each, before the state is written.

    A crash leaves at most a torn last line, which is ignored; every complete line is folded
    into the state by the next run. The run itself keeps what it wrote (`recorded`, each
    record sharing its unchanged values with the one it replaces, see sharing_values) and
    persists that, without reading its lines back.

    `record` returns once its line is written: a process killed after that loses nothing
    (the kernel holds the line). A syncer thread fsyncs the lines as they come, every line
    written by the time each fsync starts in one call (a group commit), so that a worker's
    next request does not wait for the disk (issue 16: 1.2 ms of each 22.7 ms PUT cycle
    at 8 workers went to waiting for fsyncs); what a power loss can take is the last
    fsync's worth, milliseconds of answers, which the next apply reads again (see intend).
    A failed fsync stops the run: the next record, and close, raise StateError.
    """

    def __init__(
        self, state_path: Path, earlier: Mapping[int, CustomerRecord] | None = None
    ) -> None:
        self.path = journal_path(state_path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._earlier = earlier if earlier is not None else {}
        self.recorded: dict[int, CustomerRecord] = {}  # each customer's latest line
        self._lock = threading.Lock()  # appends, one at a time
        self._unsynced = threading.Event()  # lines written since the last fsync started
        self._written = 0  # lines appended
        self._synced = 0  # of those, the lines an fsync has put on disk
        self._closing = False
        self._failure: str | None = None  # why an fsync failed
        self._syncer = threading.Thread(target=self._sync, name="fluentcart-journal", daemon=True)
        self._syncer.start()

    def record(self, customer_id: int, record: CustomerRecord) -> None:
        line = json.dumps(
            {
                "id": customer_id,
                "observed": record.observed,
                "observed_at": record.observed_at,
                "last_applied": record.last_applied,
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        data = ("\n" + line + "\n").encode("utf-8")  # a leading newline ends any torn line
        kept = sharing_values(record, self._earlier.get(customer_id))
        failure = self._failure
        if failure is None:
            try:
                with self._lock:
                    os.write(self._fd, data)
                    self._written += 1
                    self.recorded[customer_id] = kept
            except OSError as exc:
                failure = exc.strerror or str(exc)
        if failure is not None:
            raise StateError(f"cannot record customer {customer_id} in {self.path.name}: {failure}")
        self._unsynced.set()

    def _sync(self) -> None:
        while True:
            self._unsynced.wait()
            self._unsynced.clear()
            closing = self._closing  # set before this fsync: it covers every line
            upto = self._written
            if upto > self._synced:
                try:
                    os.fsync(self._fd)
                except OSError as exc:
                    self._failure = f"cannot sync it to disk: {exc.strerror or exc}"
                    return
                self._synced = upto
            if closing:
                return

    def intend_ahead(self, customer_ids: list[int]) -> None:
        """Nothing to write: see intend."""

    def intend(self, customer_id: int) -> None:
        """Nothing to write: after a crash, the next apply compares each planned customer's
        live values with the declared ones, so a PUT whose answer was lost is seen as done."""

    def release(self, customer_id: int) -> None:
        """Nothing to clear: see intend."""

    def close(self) -> None:
        """Once every worker has finished: the last lines synced, then closed."""
        self._closing = True
        self._unsynced.set()
        self._syncer.join()
        os.close(self._fd)
        if self._failure is not None:
            raise StateError(f"{self.path.name}: {self._failure}")


def fold_journal(state: StateFile, state_path: Path) -> int:
    """Apply the journal's complete records to `state` in memory; returns how many."""
    path = journal_path(state_path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return 0
    count = 0
    # Read a batch of lines at a time (a journal holds as many records as the run changed
    # customers), each batch decoded as one JSON array so that its records share their
    # keys' strings, as the records of one state file do: a line decoded on its own has
    # its own copy of every key, 1.5 KB a customer. Binary lines end in b"\n" only: text
    # lines would also end at U+0085, U+2028 and the other line breaks that the JSON of a
    # record holds unescaped, and drop it as torn.
    with handle:
        batch: list[bytes] = []
        for raw in handle:
            if raw.strip():
                batch.append(raw)
            if len(batch) == _FOLD_BATCH:
                count += _fold(state, batch)
                batch = []
        count += _fold(state, batch)
    return count


_FOLD_BATCH = 1000


def _fold(state: StateFile, lines: list[bytes]) -> int:
    """A batch of journal lines into `state`: decoded as one array when every line is a
    whole record (the batch then shares its keys' strings), else line by line, each line
    that is not a record (the torn last line of a crash) left out."""
    entries: list[Any] | None = None
    if lines:
        try:
            decoded = json.loads(b"[" + b",".join(lines) + b"]")
        except ValueError:
            decoded = None
        if type(decoded) is list and len(decoded) == len(lines):
            entries = decoded
    if entries is None:
        entries = [_entry(line) for line in lines]
    count = 0
    for entry in entries:
        try:
            record = CustomerRecord(entry["observed"], entry["observed_at"], entry["last_applied"])
            customer_id = int(entry["id"])
        except (ValueError, KeyError, TypeError):
            continue  # the torn last line of a crash
        state.customers[customer_id] = sharing_values(record, state.customers.get(customer_id))
        count += 1
    return count


def _entry(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        return None


def remove_journal(state_path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        journal_path(state_path).unlink()


class FileStorage:
    """The StateStorage of a state file (see storage/__init__.py for what each step means)."""

    def __init__(self, path: Path, display: str) -> None:
        self.path = path
        self.display = display
        self.pending_location = journal_path(path).name
        self.earlier: Mapping[int, CustomerRecord] = {}  # the records as this run read them
        self._journal: Journal | None = None  # this run's, once it records

    def read(self, slim: bool = False) -> tuple[StateFile | None, int]:
        state = load_state(self.path, self.display, slim)
        pending = fold_journal(state, self.path) if state is not None else 0
        return state, pending

    def recorded_name_mode(self) -> NameMode | None:
        try:
            with self.path.open("rb") as handle:
                head = handle.read(65536).decode("utf-8", "replace")
        except OSError:
            return None
        found, mode = name_mode_in_head(head)
        if found:
            return mode
        state = load_state(self.path, self.display, slim=True)
        return state.name_mode if state is not None else None

    def warnings(self) -> list[str]:
        found = []
        if self.path.exists() and readable_by_others(self.path):
            found.append(
                f"{self.display} is readable by other users; it holds customer data (chmod 600"
                " it; fluentcart writes it 0600)"
            )
        with contextlib.suppress(OSError):
            size = self.path.stat().st_size
            if size > LARGE_STATE_BYTES:
                found.append(
                    f"{self.display} is {size / 1e6:.0f} MB: git warns past 50 MB and GitHub"
                    " refuses files past 100 MB; keep the state in PostgreSQL instead"
                    " (state: postgresql://..., see the README's Team state)"
                )
        return found

    def lock(self, operation: str, timeout: float = 0.0) -> StateLock:
        return StateLock(self.path, operation, timeout)

    def force_unlock(
        self,
        lock_id: str,
        force: bool = False,
        confirm: Callable[[LockInfo], bool] = lambda holder: True,
    ) -> LockInfo:
        return force_unlock(self.path, lock_id, force, confirm)

    def recover(self, fresh: StateFile) -> tuple[StateFile | None, StateFile, int]:
        on_disk = load_state(self.path, self.display)
        working = on_disk.working_copy() if on_disk is not None else fresh
        folded = fold_journal(working, self.path)
        if folded:
            save_state(self.path, working, on_disk)
            remove_journal(self.path)
            on_disk = working.working_copy()
        self.earlier = on_disk.customers if on_disk is not None else {}
        return on_disk, working, folded

    def unresolved(self) -> list[int]:
        return []  # the file backend keeps no intents (see Journal.intend)

    def resolve(self, records: dict[int, CustomerRecord], customer_ids: list[int]) -> None:
        return  # never called: unresolved() is always empty

    def recorder(self, workers: int = 1) -> Journal:
        self._journal = Journal(self.path, self.earlier)
        return self._journal

    keeps_history = False  # git keeps the file's history; fluentcart keeps the current record

    def history(self, customer_id: int) -> list[RecordVersion]:
        state, _ = self.read()
        record = state.customers.get(customer_id) if state is not None else None
        if record is None:
            return []
        return [RecordVersion(1, record, record.observed_at, "record", "the current record")]

    def purge(self, customer_ids: list[int]) -> None:
        return  # removing it from the file is all there is; git history is the repository's

    def replace(self, state: StateFile) -> None:
        data = serialize(state)
        try:
            write_atomic(self.path, data, backup=True)
        except OSError as exc:
            raise StateError(
                f"{self.display}: cannot write the state file: {exc.strerror or exc}"
            ) from None
        state.sha256 = hashlib.sha256(data).hexdigest()

    def persist(self, state: StateFile, previous: StateFile | None) -> bool:
        if self._journal is not None:
            state.customers.update(self._journal.recorded)  # what its lines hold
        else:
            fold_journal(state, self.path)
        wrote = save_state(self.path, state, previous)
        remove_journal(self.path)
        return wrote
