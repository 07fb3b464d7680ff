"""What `fluentcart init` puts in a workspace, and where `$schema` comments point.

Pure: texts and paths, no writing. The JSON Schemas ship inside the package; a workspace
keeps its own copy under `.fluentcart/schemas/`, so that every `$schema` comment fluentcart
writes is a path relative to the file it is in and works on every machine, in every editor
and in CI, wherever (and whether) fluentcart itself is installed.
"""

import os
from importlib import resources
from pathlib import Path

from reconciler import environment
from reconciler.workspace import (
    DEFAULT_CUSTOMERS,
    DEFAULT_PARALLELISM,
    DEFAULT_STATE,
    DEFAULT_STATUSES,
    NameMode,
)

SCHEMA_DIR = Path(".fluentcart") / "schemas"
SCHEMA_NAMES = ("customer", "workspace", "state", "plan", "saved-plan", "apply-events")
SCHEMA_COMMENT = "# yaml-language-server: $schema={}"

# `import --generate-yaml` groups customers into files of this many: files a reviewer can
# read, and few enough of them that `validate` stays fast.
DEFAULT_PER_FILE = 100


def schema_file_name(name: str) -> str:
    return f"{name}.schema.json"


def packaged_schema(name: str) -> bytes:
    """A schema as this version of fluentcart ships it."""
    return resources.files("reconciler").joinpath("schemas", schema_file_name(name)).read_bytes()


def schema_path(root: Path, name: str) -> Path:
    """Where the workspace at `root` keeps its copy of schema `name`."""
    return root / SCHEMA_DIR / schema_file_name(name)


def schema_comment(file: Path, root: Path, name: str = "customer") -> str:
    """The `$schema` comment for a file at `file` in the workspace at `root`: a path to the
    workspace's copy, relative to the file's own directory, with forward slashes."""
    target = os.path.relpath(schema_path(root.resolve(), name), file.resolve().parent)
    return SCHEMA_COMMENT.format(Path(target).as_posix())


def ignored_paths(state: str | None = DEFAULT_STATE) -> list[str]:
    """The `.gitignore` lines for what fluentcart writes beside the state file (None: the
    state is in a database) and never commits."""
    beside = [f"/{state}.backup", f"/{state}.journal", f"/{state}.lock"] if state else []
    return [
        *beside,
        "*.plan",
        "/.fluentcart/cache/",
        "/.fluentcart-cache/",
    ]


def gitignore_text(state: str | None = DEFAULT_STATE) -> str:
    lines = [
        "# Written by fluentcart, never committed: they hold customer data, and the state's",
        "# backup, journal and lock are rewritten on every run. The state itself is committed.",
        *ignored_paths(state),
    ]
    return "\n".join(lines) + "\n"


def config_text() -> str:
    """A `fluentcart.yaml` that shows every key with its default, and the credentials."""
    statuses = ", ".join(DEFAULT_STATUSES)
    variables = "\n".join(f"#   {name:<24} {meaning}" for name, meaning in environment.STORE)
    others = ", ".join(
        name for name, _ in (*environment.CACHE, *environment.DEBUG, *environment.COLOR)
    )
    return f"""{SCHEMA_COMMENT.format((SCHEMA_DIR / schema_file_name("workspace")).as_posix())}
# fluentcart workspace settings. Every key is optional: the values below are the defaults.
#
# Credentials never go in this file (it is committed); fluentcart reads them from the
# environment, or from the CI system's secret store:
{variables}
# Also read: {others} (see `fluentcart --help`).

# The WordPress site's base URL. FLUENTCART_URL wins when it is set.
# site: https://shop.example.com

# The declared customer files: a directory (searched for *.yaml and *.yml) or a glob.
customers: {DEFAULT_CUSTOMERS}

# What fluentcart last saw of each customer. Commit it; it holds customer data, so keep
# the repository private. For state a team shares, a PostgreSQL database instead:
# `state: postgresql://user@host/dbname` (the password in PGPASSWORD or ~/.pgpass, never
# here; FLUENTCART_STATE wins), with `workspace` naming this store in that database
# (default: the site's host and path).
state: {DEFAULT_STATE}
# workspace: shop.example.com

# How the store takes names: auto (ask the store), full_name, or first_last.
name_mode: {NameMode.AUTO.value}

# The customer statuses `validate` accepts (FluentCart itself accepts any text).
statuses: [{statuses}]

# Fields that --redact masks in plans and output, beside the local part of every email.
sensitive: []

# Whether apply creates a declared label the store does not have (the plan shows each as
# `+ label`); false makes such a label an error, and labels are made in FluentCart only.
create_labels: true

# Customers applied at once (and list pages read at once by plan --refresh and refresh).
parallelism: {DEFAULT_PARALLELISM}

# Above this many customers to change, text and Markdown plans count them by field and list
# only this many (default 1000 for text, 50 for Markdown); the JSON plan lists every one.
# summary_over: 1000
"""
