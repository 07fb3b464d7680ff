"""What git says about the workspace, when it is a git checkout (and git is installed)."""

import subprocess
from collections.abc import Sequence
from pathlib import Path


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def head_commit(root: Path) -> str | None:
    """The commit checked out in `root`, or None outside a git checkout."""
    out = _git(root, "rev-parse", "--verify", "HEAD")
    return out.strip() if out else None


def would_commit(root: Path, path: Path) -> bool:
    """Whether `git add -A` in the checkout at `root` would take `path`: inside the work tree,
    and neither ignored nor outside it. False outside a git checkout."""
    if _git(root, "rev-parse", "--is-inside-work-tree") is None:
        return False
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "-q", "--", str(path.resolve())],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 1  # 0: ignored; 128: outside the work tree, or an error


def is_dirty(root: Path) -> bool:
    """Whether the checkout has uncommitted changes (untracked files included)."""
    out = _git(root, "status", "--porcelain")
    return bool(out and out.strip())


def files_differing_from(root: Path, commit: str, paths: Sequence[Path]) -> list[str] | None:
    """Of `paths`, those whose content differs from `commit` (or that it lacks); None if unknown."""
    if not paths:
        return []
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    toplevel = Path(top.strip()).resolve()
    differing = []
    for path in paths:
        relative = path.resolve().relative_to(toplevel).as_posix()
        committed = _git(root, "show", f"{commit}:{relative}")
        try:
            current = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if committed is None or committed != current:
            differing.append(relative)
    return differing


def changed_since(root: Path, ref: str) -> set[Path] | None:
    """Files changed between `ref` and the working tree, untracked ones included; None when
    `ref` is unknown or `root` is not a git checkout."""
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is None:
        return None
    top = _git(root, "rev-parse", "--show-toplevel")
    diff = _git(root, "diff", "--name-only", ref, "--")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--full-name")
    if top is None or diff is None or untracked is None:
        return None
    toplevel = Path(top.strip())
    names = [*diff.splitlines(), *untracked.splitlines()]
    return {(toplevel / name).resolve() for name in names if name}


def merge_parents_of(path: Path) -> tuple[str, list[tuple[str, str]]] | None:
    """When the last commit that changed `path` is a merge: (that commit, [(each parent,
    the file's text there)]); None otherwise, or outside a git checkout."""
    directory = path.parent
    log = _git(directory, "log", "-1", "--format=%H %P", "--", path.name)
    if not log or len(log.split()) < 3:
        return None
    commit, *parents = log.split()
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    relative = path.resolve().relative_to(Path(top.strip()).resolve()).as_posix()
    versions = []
    for parent in parents:
        text = _git(directory, "show", f"{parent}:{relative}")
        if text is not None:
            versions.append((parent, text))
    return commit, versions
