"""`fluentcart fmt [--check] [--diff] [PATH...]`: declared files in canonical form."""

import difflib
import hashlib
import stat
from collections.abc import Mapping
from pathlib import Path

import click

from reconciler import yamlsource
from reconciler.atomicfile import write_atomic
from reconciler.cache import ParseCache, open_cache
from reconciler.commands.context import echo_diagnostics
from reconciler.commands.validate import chosen_files, offline_rules
from reconciler.declared import Rules, check_file
from reconciler.diagnostics import Diagnostic, Severity
from reconciler.fmt import FormatBug, FormatError, format_text
from reconciler.storage import open_storage
from reconciler.workspace import load_workspace


def run(paths: tuple[Path, ...], check: bool, diff: bool, write_ids: bool = False) -> int:
    workspace = load_workspace(Path.cwd())
    files, missing = chosen_files(workspace, paths)
    echo_diagnostics(missing)
    rules = offline_rules(workspace)
    ids: dict[str, int] = {}
    if write_ids:
        state, _ = open_storage(workspace).read(slim=True)
        ids = state.created() if state is not None else {}
    cache = open_cache() if not ids else None  # ids make a file's canonical form differ
    changed = unchanged = 0
    failed = len(missing)
    for path in files:
        display = workspace.display(path)
        outcome = _format_file(path, display, rules, check, diff, cache, ids)
        if outcome is None:
            failed += 1
        elif outcome:
            changed += 1
        else:
            unchanged += 1
    if cache is not None and cache.writes:
        cache.prune()
    _summary(check, changed, unchanged, failed)
    return 1 if failed or (check and changed) else 0


def _format_file(
    path: Path,
    display: str,
    rules: Rules,
    check: bool,
    diff: bool,
    cache: ParseCache | None,
    ids: Mapping[str, int] | None = None,
) -> bool | None:
    """Whether the file changes (or would, with `check`); None when it cannot be formatted.

    Bytes found canonical and free of errors before (under the same rules) are remembered in
    the parse cache, so an unchanged file is not parsed again.
    """
    try:
        data = yamlsource.read_bytes(path)
    except yamlsource.YamlSourceError as exc:
        echo_diagnostics([Diagnostic(Severity.ERROR, exc.message, display)])
        return None
    key = None
    if cache is not None:
        key = cache.key(hashlib.sha256(data).hexdigest(), display, "fmt\0" + rules.cache_key())
        entry = cache.get(key)
        if entry is not None and entry.get("canonical") is True:
            return False
    problems, document = check_file(data, display, rules)
    errors = [d for d in problems if d.severity is Severity.ERROR]
    if errors or document is None:
        echo_diagnostics(errors)
        click.echo(f"{display}: not formatted: fix the error(s) above first", err=True)
        return None
    text = yamlsource.decode(data)
    try:
        result = format_text(text, document, ids)
    except FormatError as exc:
        echo_diagnostics([Diagnostic(Severity.ERROR, exc.message, display, exc.line, exc.column)])
        return None
    except FormatBug as exc:
        click.echo(
            f"Error: {display}: not formatted, because the result would not mean the same ({exc});"
            " this is a bug in fluentcart fmt: please report it with the file",
            err=True,
        )
        return None
    new = result.encode("utf-8")
    if new == data:
        if cache is not None and key is not None:
            cache.put(key, {"canonical": True})
        return False
    click.echo(display)
    if diff:
        lines = difflib.unified_diff(
            text.splitlines(keepends=True),
            result.splitlines(keepends=True),
            f"a/{display}",
            f"b/{display}",
        )
        click.echo("".join(lines), nl=False)
    if not check:
        write_atomic(path, new, mode=stat.S_IMODE(path.stat().st_mode))
    return True


def _summary(check: bool, changed: int, unchanged: int, failed: int) -> None:
    parts = [
        f"{changed} file(s) {'would be reformatted' if check else 'reformatted'}",
        f"{unchanged} already canonical",
    ]
    if failed:
        parts.append(f"{failed} not formatted because of errors")
    message = ", ".join(parts) + "."
    if check and changed:
        message += " Run `fluentcart fmt` to rewrite them."
    click.echo(message, err=True)
