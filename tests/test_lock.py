"""The state lock's own corner cases (the commands' use of it is tested in test_apply.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.lock import LockError, StateLock, lock_path

SLOW_HOLDER = """
import fcntl, json, os, socket, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(0.3)  # caught between taking the lock and saying who holds it
info = {"id": "slow-holder", "operation": "apply", "who": "ci", "hostname": socket.gethostname(),
        "pid": os.getpid(), "created": "2026-11-23T00:00:00+00:00", "tool_version": "0"}
os.write(fd, json.dumps(info).encode())
time.sleep(10)
"""


def test_the_holder_is_named_even_between_its_lock_and_its_details(tmp_path: Path) -> None:
    state = tmp_path / "fluentcart.state.json"
    holder = subprocess.Popen(
        [sys.executable, "-c", SLOW_HOLDER, str(lock_path(state))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockError) as info:
            StateLock(state, "apply").acquire()
        assert f"(pid {holder.pid})" in str(info.value) and "slow-holder" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
