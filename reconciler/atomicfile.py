"""Writing files so that a crash leaves either the old content or the new, never a mix."""

import contextlib
import os
from pathlib import Path

PRIVATE_MODE = 0o600


def write_atomic(
    path: Path, data: bytes, *, backup: bool = False, mode: int = PRIVATE_MODE
) -> None:
    """Write `data` to `path` with `mode` (0600 unless told): temporary file, fsync, rename,
    fsync the folder.

    With `backup`, the previous content is kept as `<path>.backup` (one generation).
    """
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # O_CREAT's mode is ignored when the file already existed
        if backup and path.exists():
            _keep_backup(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(directory)


def _keep_backup(path: Path) -> None:
    backup = path.with_name(path.name + ".backup")
    staging = path.with_name(f".{path.name}.backup.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    try:
        os.link(path, staging)  # the old inode survives the rename below under this name
    except OSError:
        staging.write_bytes(path.read_bytes())
    os.chmod(staging, PRIVATE_MODE)
    os.replace(staging, backup)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
