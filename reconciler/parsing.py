"""Loading declared files, on worker processes when there is enough to load.

What a file yields (its customers and every diagnostic, with file, line and column) depends
only on its bytes, its displayed name and the rules, so files are parsed independently. A
large uncached workspace is parsed by a pool of processes, one file per task, using every
core; the caller takes the results in file order, so customers and diagnostics are the
same, in the same order, as from one process (tests/test_parsing.py). Files in the parse
cache are read from their entries by the workers too (an eighth of a parse's weight), so
that a warm plan reads its state while they do.

`FLUENTCART_WORKERS`: `1` parses in this process; `N` > 1 uses N processes whenever two or
more files need parsing; unset, the usable cores once the files to parse hold at least
MIN_POOL_BYTES (below that, starting the processes costs more than it saves).

Workers are spawned, not forked: a fork copies the locks other threads hold (the state's
reader, a test's sandbox) and can hang the child; a spawned worker imports this package
afresh (about 0.2 s, once per worker) and is sent each file's bytes. A worker that dies is
replaced by parsing its file here.
"""

import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TYPE_CHECKING

from reconciler import jsontext
from reconciler.diagnostics import Diagnostic
from reconciler.errors import FluentCartError

if TYPE_CHECKING:
    from reconciler.cache import ParseCache
    from reconciler.declared import DeclaredCustomer, Rules

# A file's loaded customers (each with whether it is free of errors) and its diagnostics.
Part = tuple[list[tuple["DeclaredCustomer", bool]], list[Diagnostic]]
# (bytes, displayed name, cache key or None, whether the cache has the key)
Job = tuple[bytes, str, str | None, bool]

MIN_POOL_BYTES = 1024 * 1024  # about 5,000 customers: less and the start-up costs more
# A cached file costs this much less than a parse (its entry is read, not its YAML).
CACHED_WEIGHT = 8
ENV = "FLUENTCART_WORKERS"


def load_entry(
    data: bytes,
    display: str,
    rules: "Rules",
    cache: "ParseCache | None",
    key: str | None,
    cached: bool,
) -> tuple[Part, bool]:
    """One file's customers: from its cache entry when `cached` (and the entry reads),
    else parsed; whether a new entry was stored."""
    if cached and cache is not None and key is not None:
        entry = cache.get(key)
        if entry is not None:
            from reconciler.declared import part_of_entry

            return part_of_entry(entry, display), False
    return parse_entry(data, display, rules, cache, key)


def parse_entry(
    data: bytes, display: str, rules: "Rules", cache: "ParseCache | None", key: str | None
) -> tuple[Part, bool]:
    """One file parsed (and stored in the cache under `key`); whether it was stored."""
    from reconciler.declared import parse_file

    found: list[Diagnostic] = []
    with jsontext.many_objects():  # a file's nodes and values hold no reference cycles
        loaded = parse_file(data, display, rules, found)
    wrote = False
    if cache is not None and key is not None:
        before = cache.writes
        cache.put(
            key,
            {
                "customers": [{**c.to_dict(), "valid": valid} for c, valid in loaded],
                "diagnostics": [d.to_dict() for d in found],
            },
        )
        wrote = cache.writes > before
    return (loaded, found), wrote


def _worker_started() -> None:
    """A worker leaves Ctrl-C to the command, which stops the pool (no worker tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def configured_workers(env: dict[str, str] | None = None) -> int | None:
    """FLUENTCART_WORKERS as a number (None: unset, decide by size)."""
    value = (os.environ if env is None else env).get(ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise FluentCartError(f"{ENV} must be a whole number of processes, 1 or more: {value!r}")
    return int(value)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Parsing:
    """The parses of a load, begun: `results[i]()` gives job i's Part (waiting for it)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        rules: "Rules",
        cache: "ParseCache | None",
        workers: int | None = None,
    ) -> None:
        self.rules = rules
        self.cache = cache
        self.cache_writes = 0
        self._pool: ProcessPoolExecutor | None = None
        count = self._pool_size(jobs, workers)
        if count > 1:
            try:
                self._pool = ProcessPoolExecutor(
                    count, mp_context=get_context("spawn"), initializer=_worker_started
                )
            except (OSError, ImportError):  # no process support here: parse in this one
                self._pool = None
        self.results: list[Callable[[], Part]] = [self._start(job) for job in jobs]

    @staticmethod
    def _pool_size(jobs: Sequence[Job], workers: int | None) -> int:
        chosen = configured_workers() if workers is None else workers
        if chosen is None:
            weight = sum(len(data) // (CACHED_WEIGHT if hit else 1) for data, _, _, hit in jobs)
            if weight < MIN_POOL_BYTES:
                return 1
            chosen = usable_cores()
        return min(chosen, len(jobs)) if len(jobs) > 1 else 1

    def _start(self, job: Job) -> Callable[[], Part]:
        if self._pool is None:
            return lambda: self._here(job)
        future = self._pool.submit(load_entry, *job[:2], self.rules, self.cache, *job[2:])
        return lambda: self._collect(future, job)

    def _here(self, job: Job) -> Part:
        part, wrote = load_entry(*job[:2], self.rules, self.cache, *job[2:])
        self.cache_writes += wrote
        return part

    def _collect(self, future: "Future[tuple[Part, bool]]", job: Job) -> Part:
        try:
            part, wrote = future.result()
        except BrokenProcessPool:  # a worker died (killed, out of memory): parse it here
            return self._here(job)
        self.cache_writes += wrote
        return part

    def close(self) -> None:
        """Stop the parses not begun, and the workers."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def start(
    jobs: Sequence[Job], rules: "Rules", cache: "ParseCache | None", workers: int | None = None
) -> Parsing:
    return Parsing(jobs, rules, cache, workers)
