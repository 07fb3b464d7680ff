"""A cache of loaded declared files, keyed by content: an unchanged file is not parsed again.

Parsing YAML dominates `validate` and `plan` on large workspaces. What a file yields (its
customers, normalized, and every diagnostic with its file, line and column) depends only on
its bytes, its displayed name, the rules (statuses, name mode) and the tool version, so the
result is stored under a hash of exactly those. Entries are JSON, written atomically with
mode 0600 (they hold customer data) in `$FLUENTCART_CACHE_DIR`, else
`$XDG_CACHE_HOME/fluentcart`, else `~/.cache/fluentcart`. `FLUENTCART_NO_CACHE=1` turns it
off. A cache that cannot be read or written is ignored: it only ever saves time.
"""

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler import __version__, jsontext
from reconciler.atomicfile import write_atomic

FORMAT = 4  # 2: declared customers carry `sent`; 3: labels; 4: addresses
MAX_ENTRIES = 20_000


def default_directory(env: Mapping[str, str] = os.environ) -> Path | None:
    if env.get("FLUENTCART_NO_CACHE"):
        return None
    if env.get("FLUENTCART_CACHE_DIR"):
        return Path(env["FLUENTCART_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fluentcart"


class ParseCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory / "declared"
        self.hits = 0
        self.writes = 0

    def key(self, content_sha256: str, display: str, rules: str) -> str:
        material = f"{FORMAT}\0{__version__}\0{content_sha256}\0{display}\0{rules}"
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def has(self, key: str) -> bool:
        """Whether an entry is stored under `key` (`get` may still find it unreadable)."""
        return (self.directory / f"{key}.json").is_file()

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            entry = jsontext.loads((self.directory / f"{key}.json").read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            return None
        self.hits += 1
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            data = json.dumps(
                {"format": FORMAT, **entry}, ensure_ascii=False, separators=(",", ":")
            )
            write_atomic(self.directory / f"{key}.json", data.encode("utf-8"))
            self.writes += 1
        except OSError:
            return

    def prune(self) -> None:
        """Keep the newest MAX_ENTRIES entries (by last write)."""
        with contextlib.suppress(OSError):
            entries = list(self.directory.glob("*.json"))
            if len(entries) <= MAX_ENTRIES:
                return
            entries.sort(key=lambda p: p.stat().st_mtime)
            for path in entries[: len(entries) - MAX_ENTRIES]:
                path.unlink(missing_ok=True)


def open_cache(env: Mapping[str, str] = os.environ) -> ParseCache | None:
    directory = default_directory(env)
    return ParseCache(directory) if directory is not None else None
