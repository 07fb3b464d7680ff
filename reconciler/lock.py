"""The state lock: one writer of a state file at a time.

The lock file beside the state (`<state>.lock`) holds who, where, when and which operation.
Holding the lock means holding an exclusive `flock` on that file, which the kernel releases
when the process dies for any reason (kill -9, a crash, a cancelled CI job): a lock left by a
dead process on this machine is therefore taken over, and the run says so. A lock held from
another machine (a shared file system) is never taken over automatically; `force-unlock`
is for that case.
"""

import contextlib
import fcntl
import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler import __version__
from reconciler.errors import FluentCartError

POLL_SECONDS = 0.1
HOLDER_SETTLE_SECONDS = 1.0


class LockError(FluentCartError):
    """The lock is held by someone else, or cannot be taken."""


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    who: str
    hostname: str
    pid: int
    created: str
    tool_version: str = __version__

    @classmethod
    def new(cls, operation: str) -> "LockInfo":
        """The details of a lock this process takes now."""
        return cls(
            id=str(uuid.uuid4()),
            operation=operation,
            who=_user(),
            hostname=socket.gethostname(),
            pid=os.getpid(),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def describe(self) -> str:
        return (
            f"lock {self.id} held by {self.who}@{self.hostname} (pid {self.pid}) for"
            f" '{self.operation}' since {self.created}"
        )

    def is_live_here(self) -> bool:
        """Whether the holder is a process running on this machine (a pid that a dead
        holder left may have been reused: then it looks live, which errs on the safe side)."""
        if self.hostname != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # another user's process: running
        return True

    def unlock_hint(self) -> str:
        """How to release this lock, for a holder that may be gone: nothing for one that is
        running here (it releases the lock itself when it ends)."""
        if self.is_live_here():
            return ""
        return f"; if that run is gone, release it with: fluentcart force-unlock {self.id}"


def check_release(holder: LockInfo, force: bool, confirm: Callable[[LockInfo], bool]) -> None:
    """Before force-unlock releases `holder`'s lock: refused for a process running on this
    machine unless `force`, then `confirm` (a question on a terminal) must agree."""
    if holder.is_live_here() and not force:
        raise LockError(
            f"{holder.describe()}: that process is running on this machine and releases the"
            " lock itself when it ends. Wait for it (--lock-timeout SECONDS) or stop it;"
            " `fluentcart force-unlock --force` releases it anyway, and then two runs write the"
            " state at once"
        )
    if not confirm(holder):
        raise LockError(f"force-unlock cancelled: {holder.describe()} is kept")


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


def _read_info(fd: int) -> LockInfo | None:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    try:
        return LockInfo(**json.loads(data))
    except (ValueError, TypeError):
        return None


def read_lock(state_path: Path) -> LockInfo | None:
    """The recorded holder of the lock file, if any (whether or not it is still held)."""
    try:
        fd = os.open(lock_path(state_path), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return _read_info(fd)
    finally:
        os.close(fd)


class StateLock:
    """`with StateLock(state_path, "apply", timeout) as lock:` holds the lock for the block."""

    def __init__(self, state_path: Path, operation: str, timeout: float = 0.0) -> None:
        self.path = lock_path(state_path)
        self.operation = operation
        self.timeout = timeout
        self.info: LockInfo | None = None
        self.took_over: LockInfo | None = None  # a dead holder's lock that this run released
        self._fd: int | None = None

    def acquire(self) -> "StateLock":
        deadline = time.monotonic() + self.timeout
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_info(fd)
                # The holder writes who it is right after taking the lock: give it a moment.
                settle = time.monotonic() + HOLDER_SETTLE_SECONDS
                while holder is None and time.monotonic() < settle:
                    time.sleep(0.02)
                    holder = _read_info(fd)
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise LockError(self._held_message(holder)) from None
                time.sleep(POLL_SECONDS)
                continue
            if not self._same_file(fd):
                os.close(fd)  # the file was removed and recreated while we waited
                continue
            previous = _read_info(fd)
            if previous is not None and previous.hostname != socket.gethostname():
                os.close(fd)
                raise LockError(
                    f"the state is locked from another machine: {previous.describe()}. If that run"
                    f" is gone, release it with: fluentcart force-unlock {previous.id}"
                )
            # A leftover file whose flock is free was left by a process that died (a clean
            # release removes the file); its pid may even have been reused since.
            self.took_over = previous
            self._fd = fd
            self._write_info()
            return self

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _held_message(self, holder: LockInfo | None) -> str:
        who = holder.describe() if holder else "another fluentcart process"
        hint = holder.unlock_hint() if holder else ""
        waited = f" (waited {self.timeout:g} s)" if self.timeout else ""
        return (
            f"the state is locked{waited}: {who}. Retry later, or pass --lock-timeout SECONDS{hint}"
        )

    def _write_info(self) -> None:
        assert self._fd is not None
        self.info = LockInfo.new(self.operation)
        data = json.dumps(asdict(self.info), indent=2).encode() + b"\n"
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, data)
        os.fsync(self._fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if self._same_file(self._fd):
                os.unlink(self.path)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "StateLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def force_unlock(
    state_path: Path,
    lock_id: str,
    force: bool = False,
    confirm: Callable[[LockInfo], bool] = lambda holder: True,
) -> LockInfo:
    """Remove the lock file if it carries `lock_id`; for a holder that cannot release it
    (see check_release: a running holder on this machine needs `force`)."""
    path = lock_path(state_path)
    holder = read_lock(state_path)
    if holder is None:
        raise LockError(
            f"there is no lock on {state_path.name} ({path.name} does not exist or is empty)"
        )
    if holder.id != lock_id:
        raise LockError(f"the lock id does not match: the current {holder.describe()}")
    if _flock_held(path):  # a free flock is a holder that died: nothing to check
        check_release(holder, force, confirm)
    path.unlink()
    return holder


def _flock_held(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def describe_takeover(info: LockInfo) -> str:
    return f"released a lock left by a process that is gone: {info.describe()}"
