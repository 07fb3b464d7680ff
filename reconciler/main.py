"""The `fluentcart` command line: parses arguments and dispatches; no logic lives here.

Command modules are imported inside each command so that `fluentcart --version` and the
offline commands never load the HTTP stack.

Every long option also answers to Terraform's single-dash spelling where the meaning is the
same (`-auto-approve`, `-target 7`, `-out FILE`), and a usage error exits 1 like any other
error: exit 2 means "changes present" to `--detailed-exitcode` readers, never a typo.
"""

import io
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from click.exceptions import NoArgsIsHelpError

from reconciler import __version__, environment
from reconciler.errors import FluentCartError
from reconciler.scaffold import DEFAULT_PER_FILE

FORMAT_CHOICE = click.Choice(["text", "json", "markdown"])
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


USAGE_ERROR = 1


class _UsageError(click.UsageError):
    """click's usage error, exiting 1: exit 2 means "changes present" to CI scripts."""

    exit_code = USAGE_ERROR


class _Group(click.Group):
    """Turns the tool's own errors into a message and exit 1, once, for every command, and
    makes click's usage errors exit 1 as well."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except NoArgsIsHelpError as exc:  # `fluentcart` alone: the help, as a usage error
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message(), err=True)
            raise click.exceptions.Exit(USAGE_ERROR) from None
        except click.UsageError as exc:
            raise _UsageError(exc.format_message(), exc.ctx) from None

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FluentCartError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except click.UsageError as exc:  # a subcommand's arguments, parsed in here
            if isinstance(exc, _UsageError):
                raise
            if isinstance(exc, NoArgsIsHelpError):  # `fluentcart state` alone
                click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message(), err=True)
                raise click.exceptions.Exit(USAGE_ERROR) from None
            raise _UsageError(exc.format_message(), exc.ctx) from None


def _env_help(*groups: Sequence[tuple[str, str]]) -> str:
    """An epilog naming the environment variables a command reads."""
    rows = [row for group in groups for row in group]
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name:<{width}}  {meaning}" for name, meaning in rows]
    return "\b\nEnvironment variables:\n" + "\n".join(lines)


_STORE_ENV = environment.STORE
_STATE_ENV = environment.STATE
_CACHE_ENV = environment.CACHE
_COLOR_ENV = environment.COLOR
_DEBUG_ENV = environment.DEBUG
_REFRESH_ENV = tuple(
    (name, f"{meaning}; with --refresh or --refresh-only") for name, meaning in _STORE_ENV
)


class _CustomerIds(click.ParamType):
    """Customer ids, one or a comma-separated list (`--target 7,300`)."""

    name = "ID[,ID...]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        ids = []
        for part in str(value).split(","):
            text = part.strip()
            if not (text.isascii() and text.isdigit()) or int(text) < 1:
                self.fail(
                    f"{part.strip()!r} is not a customer id (a whole number from 1)", param, ctx
                )
            ids.append(int(text))
        return tuple(ids)


class _Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        from reconciler.breaker import parse_duration

        try:
            return parse_duration(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a duration such as 90s, 15m or 2h", param, ctx)


def _flatten_ids(_ctx: click.Context, _param: click.Parameter, value: Any) -> tuple[int, ...]:
    return tuple(dict.fromkeys(i for ids in value for i in ids))


def _options(*options: Decorator) -> Decorator:
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


_store_options = _options(
    click.option(
        "--insecure-http",
        is_flag=True,
        help="Allow plain http:// to a non-loopback host (the password travels in clear).",
    ),
    click.option(
        "--rest-route",
        is_flag=True,
        help="Use /?rest_route=... URLs (sites without pretty permalinks).",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=60.0,
        show_default=True,
        metavar="SECONDS",
        help="Read timeout of each request.",
    ),
    click.option(
        "--retries",
        type=click.IntRange(0, 50),
        default=10,
        show_default=True,
        help="Retries of a request on connection errors, 429, 502, 503, 504 (a request that"
        " creates an address or a customer: only when it could not connect, or on 429).",
    ),
    click.option(
        "--unreachable-after",
        type=click.IntRange(1, 1000),
        default=10,
        show_default=True,
        metavar="N",
        help="Stop when N attempts in a row, across workers, get no answer (refused, reset,"
        " timed out, 502/503/504).",
    ),
    click.option(
        "--deadline",
        type=_Duration(),
        metavar="DURATION",
        help="Send nothing after this long (90s, 15m, 2h); requests in flight finish.",
    ),
)
_method_override_option = click.option(
    "--method-override",
    is_flag=True,
    help="Send PUT as POST with X-HTTP-Method-Override (proxies that block PUT).",
)
_update_yaml_option = click.option(
    "--update-yaml",
    is_flag=True,
    help="Also write the store's values of drifted declared fields into the YAML (comments"
    " kept), so the next plan keeps them instead of reverting them.",
)


_lock_option = click.option(
    "-lock-timeout",
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for the state lock.",
)
_target_option = click.option(
    "-target",
    "--target",
    "targets",
    type=_CustomerIds(),
    multiple=True,
    callback=_flatten_ids,
    help="Only these customers (repeatable, or a list: --target 7,300).",
)
_color_option = click.option(
    "-no-color", "--no-color", is_flag=True, help="Never colour the output."
)
_redact_option = click.option(
    "--redact", is_flag=True, help="Mask the workspace's sensitive fields and email local parts."
)


_read_parallelism_option = click.option(
    "-parallelism",
    "--parallelism",
    type=click.IntRange(1, 64),
    help="Pages of customers read at once from the store (default: the workspace's, else 4).",
)


def _connect(store: dict[str, Any]) -> Any:
    from reconciler.commands.context import ConnectOptions

    return ConnectOptions(**store)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_env_help(_STORE_ENV, _STATE_ENV, _CACHE_ENV, _COLOR_ENV, _DEBUG_ENV),
)
@click.version_option(__version__, prog_name="fluentcart")
@click.option(
    "-C",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Run in DIR (the workspace) instead of the current directory.",
)
@click.option(
    "--debug", is_flag=True, help="Log every HTTP request (method, URL, status, time) to stderr."
)
def cli(directory: Path | None, debug: bool) -> None:
    """Declarative reconciler for FluentCart customer records."""
    if directory is not None:
        os.chdir(directory)
    if debug:
        import logging

        # Request lines and timings only: no headers or bodies, so never credentials.
        logging.basicConfig(
            level=logging.DEBUG, format="debug: %(name)s: %(message)s", stream=sys.stderr
        )


@cli.command(epilog=_env_help(_STATE_ENV, _CACHE_ENV, _DEBUG_ENV))
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check declared customer files offline (default: the workspace's)."""
    from reconciler.commands import validate as command

    ctx.exit(command.run(paths))


@cli.command("fmt", epilog=_env_help(_CACHE_ENV, _DEBUG_ENV))
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing: list the files that are not in canonical form and exit 1 if any.",
)
@click.option("--diff", is_flag=True, help="Show the changes as a unified diff.")
@click.option(
    "--write-ids",
    is_flag=True,
    help="Write the id of each customer that apply created from a declaration without an id"
    " (found by its email in the state) into its file.",
)
@click.pass_context
def fmt_command(
    ctx: click.Context, paths: tuple[Path, ...], check: bool, diff: bool, write_ids: bool
) -> None:
    """Rewrite declared files in canonical form, keeping comments (default: the workspace's).

    Canonical form is what `import --generate-yaml` writes: fields in a fixed order, values
    quoted only where YAML needs it, two-space indentation. Files with errors are left alone.
    """
    from reconciler.commands import fmt as command

    ctx.exit(command.run(paths, check, diff, write_ids))


@cli.command(epilog=_env_help(_REFRESH_ENV, _STATE_ENV, _CACHE_ENV, _COLOR_ENV, _DEBUG_ENV))
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
@click.option(
    "-out",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan to FILE for `apply FILE`.",
)
@_redact_option
@click.option(
    "-detailed-exitcode",
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 without changes, 1 on error, 2 with changes.",
)
@_target_option
@_color_option
@click.option(
    "-refresh",
    "--refresh",
    is_flag=True,
    help="Read the live customers first: show drift, diff against the store.",
)
@click.option(
    "-refresh-only",
    "--refresh-only",
    is_flag=True,
    help="Only show what changed on the store since it was recorded.",
)
@_update_yaml_option
@click.option(
    "--changed-since",
    metavar="REF",
    help="Only customers declared in files changed since the git commit REF (pull requests).",
)
@_read_parallelism_option
@_store_options
@click.pass_context
def plan(
    ctx: click.Context,
    fmt: str,
    out: Path | None,
    redact: bool,
    detailed_exitcode: bool,
    targets: tuple[int, ...],
    no_color: bool,
    refresh: bool,
    refresh_only: bool,
    update_yaml: bool,
    changed_since: str | None,
    **store: Any,
) -> None:
    """Show what apply would change (offline against the state, or --refresh from the store).

    With --refresh-only --update-yaml it also shows the YAML that `fluentcart refresh
    --update-yaml` would write; plan itself never writes a declared file."""
    from reconciler.commands import plan as command

    if changed_since and targets:
        raise FluentCartError("--changed-since and --target both choose the customers: give one")
    if refresh_only and out is not None:
        raise FluentCartError(
            "a --refresh-only plan cannot be saved; run `fluentcart refresh` instead"
        )
    if update_yaml and (not refresh_only or fmt != "text"):
        raise FluentCartError("--update-yaml goes with --refresh-only and the text format")
    options = command.PlanOptions(
        fmt,
        out,
        redact,
        detailed_exitcode,
        targets,
        no_color,
        refresh,
        refresh_only,
        changed_since,
        _connect(store),
        update_yaml,
    )
    ctx.exit(command.run(options))


@cli.command(epilog=_env_help(_COLOR_ENV, _DEBUG_ENV))
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
@_redact_option
@_color_option
@click.pass_context
def show(ctx: click.Context, plan_file: Path, fmt: str, redact: bool, no_color: bool) -> None:
    """Render a saved plan exactly as `plan` printed it."""
    from reconciler.commands import show as command

    ctx.exit(command.run(plan_file, fmt, redact, no_color))


@cli.command(epilog=_env_help(_STORE_ENV, _STATE_ENV, _CACHE_ENV, _COLOR_ENV, _DEBUG_ENV))
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-auto-approve",
    "--auto-approve",
    is_flag=True,
    help="Apply without asking (required when standard input is not a terminal).",
)
@click.option(
    "-parallelism",
    "--parallelism",
    type=click.IntRange(1, 64),
    help="Customers applied at once (default: the workspace's, else 4).",
)
@click.option(
    "--rate", type=click.FloatRange(min=0.1), help="At most this many requests per second."
)
@_target_option
@click.option("--force", is_flag=True, help="Overwrite fields changed on the store since the plan.")
@click.option(
    "-refresh",
    "--refresh",
    is_flag=True,
    help="Plan from the live customers (drift is overwritten).",
)
@click.option(
    "-refresh-only",
    "--refresh-only",
    is_flag=True,
    help="Only record the store's values in the state (like refresh).",
)
@click.option(
    "-json", "--json", "json_events", is_flag=True, help="One JSON event per line on stdout."
)
@_update_yaml_option
@click.option(
    "--require-clean",
    is_flag=True,
    help="Refuse a saved plan when the declared files differ from the git commit it was made at.",
)
@click.option(
    "-detailed-exitcode",
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 without changes, 2 when all changes applied, 3 on partial failure, 1 on error.",
)
@_redact_option
@_color_option
@_store_options
@_method_override_option
@_lock_option
@click.pass_context
def apply(
    ctx: click.Context,
    plan_file: Path | None,
    auto_approve: bool,
    parallelism: int | None,
    rate: float | None,
    targets: tuple[int, ...],
    force: bool,
    refresh: bool,
    refresh_only: bool,
    json_events: bool,
    update_yaml: bool,
    require_clean: bool,
    detailed_exitcode: bool,
    redact: bool,
    no_color: bool,
    lock_timeout: float,
    **store: Any,
) -> None:
    """Send the planned changes to the store and record what it returns."""
    from reconciler.commands import apply as command

    if plan_file is not None and (refresh or refresh_only or targets):
        raise FluentCartError(
            "a saved plan is applied as it is: --refresh and --target belong to `plan`"
        )
    if update_yaml and not refresh_only:
        raise FluentCartError("--update-yaml goes with --refresh-only (or `fluentcart refresh`)")
    options = command.ApplyOptions(
        plan_file=plan_file,
        auto_approve=auto_approve,
        parallelism=parallelism,
        rate=rate,
        targets=targets,
        force=force,
        lock_timeout=lock_timeout,
        refresh=refresh,
        refresh_only=refresh_only,
        json_events=json_events,
        update_yaml=update_yaml,
        detailed_exitcode=detailed_exitcode,
        require_clean=require_clean,
        connect=_connect(store),
        no_color=no_color,
        redact=redact,
    )
    ctx.exit(command.run(options))


@cli.command(epilog=_env_help(_STORE_ENV, _STATE_ENV, _DEBUG_ENV))
@_target_option
@_update_yaml_option
@_read_parallelism_option
@_store_options
@_lock_option
@click.pass_context
def refresh(
    ctx: click.Context,
    targets: tuple[int, ...],
    update_yaml: bool,
    lock_timeout: float,
    **store: Any,
) -> None:
    """Record the store's current values in the state, without changing the store."""
    from reconciler.commands import refresh as command

    connect = _connect(store)
    ctx.exit(command.run(targets, True, lock_timeout, connect, update_yaml))


@cli.command(name="import", epilog=_env_help(_STORE_ENV, _STATE_ENV, _CACHE_ENV, _DEBUG_ENV))
@click.argument("ids", nargs=-1, type=click.IntRange(min=1))
@click.option(
    "--all",
    "all_customers",
    is_flag=True,
    help="Every customer on the store (needs --generate-yaml).",
)
@click.option("--search", metavar="TEXT", help="Customers matching TEXT (needs --generate-yaml).")
@click.option(
    "--generate-yaml",
    "generate_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write declared YAML for customers no file declares yet.",
)
@click.option(
    "--per-file",
    type=click.IntRange(min=1),
    default=DEFAULT_PER_FILE,
    show_default=True,
    metavar="N",
    help="Customers per generated file.",
)
@click.option(
    "--init",
    "init_workspace",
    is_flag=True,
    help="Run `fluentcart init` first when the directory has no fluentcart.yaml.",
)
@_store_options
@_lock_option
@click.pass_context
def import_(
    ctx: click.Context,
    ids: tuple[int, ...],
    all_customers: bool,
    search: str | None,
    generate_dir: Path | None,
    per_file: int,
    init_workspace: bool,
    lock_timeout: float,
    **store: Any,
) -> None:
    """Read customers from the store into the state (default: declared ones not in it yet)."""
    from reconciler.commands import import_ as command

    options = command.ImportOptions(
        ids=ids,
        all_customers=all_customers,
        search=search,
        generate_dir=generate_dir,
        per_file=per_file,
        init=init_workspace,
        lock_timeout=lock_timeout,
        connect=_connect(store),
    )
    ctx.exit(command.run(options))


@cli.command(epilog=_env_help(_DEBUG_ENV))
@click.argument(
    "directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--upgrade-schemas",
    is_flag=True,
    help="Replace the workspace's copies of the JSON Schemas with this version's.",
)
@click.pass_context
def init(ctx: click.Context, directory: Path, upgrade_schemas: bool) -> None:
    """Create a workspace in DIR (default: here), or add what it is missing.

    Writes a commented fluentcart.yaml, customers/, a .gitignore for the files that must not
    be committed, and the JSON Schemas under .fluentcart/schemas/ that the `$schema` comments
    of declared files point at. Existing files are never changed.
    """
    from reconciler.commands import init as command

    ctx.exit(command.run(directory, upgrade_schemas))


@cli.group(cls=_Group, epilog=_env_help(_DEBUG_ENV))
def state() -> None:
    """Inspect, edit, move or copy the state, in a file or in PostgreSQL (never the store)."""


@state.command(name="list", epilog=_env_help(_STATE_ENV, _DEBUG_ENV))
@click.pass_context
def state_list(ctx: click.Context) -> None:
    """One line per recorded customer."""
    from reconciler.commands import state as command

    ctx.exit(command.list_())


@state.command(name="show", epilog=_env_help(_STATE_ENV, _DEBUG_ENV))
@click.argument("customer_id", type=click.IntRange(min=1))
@click.option(
    "--version", "version", type=click.IntRange(min=1), help="An earlier version (see history)."
)
@click.pass_context
def state_show(ctx: click.Context, customer_id: int, version: int | None) -> None:
    """The recorded customer object, formatted."""
    from reconciler.commands import state as command

    ctx.exit(command.show(customer_id, version))


@state.command(name="history", epilog=_env_help(_STATE_ENV, _DEBUG_ENV))
@click.argument("customer_id", type=click.IntRange(min=1))
@click.pass_context
def state_history(ctx: click.Context, customer_id: int) -> None:
    """Every recorded version of a customer: when, which run, and what changed."""
    from reconciler.commands import state as command

    ctx.exit(command.history(customer_id))


@state.command(name="rm", epilog=_env_help(_STATE_ENV, _DEBUG_ENV))
@click.argument("customer_ids", nargs=-1, required=True, type=click.IntRange(min=1))
@click.option(
    "--purge",
    is_flag=True,
    help="Also erase every earlier recorded version (data-protection requests).",
)
@_lock_option
@click.pass_context
def state_rm(
    ctx: click.Context, customer_ids: tuple[int, ...], purge: bool, lock_timeout: float
) -> None:
    """Stop managing customers: drop them from the state, leave the store alone."""
    from reconciler.commands import state as command

    ctx.exit(command.rm(customer_ids, lock_timeout, purge))


@state.command(name="pull", epilog=_env_help(_STATE_ENV, _DEBUG_ENV))
@click.pass_context
def state_pull(ctx: click.Context) -> None:
    """Print the state in the JSON file format (whatever backend keeps it)."""
    from reconciler.commands import state as command

    ctx.exit(command.pull())


@state.command(name="push", epilog=_env_help(_STATE_ENV, _DEBUG_ENV))
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a state of another lineage or a newer serial.")
@_lock_option
@click.pass_context
def state_push(ctx: click.Context, source: Path, force: bool, lock_timeout: float) -> None:
    """Make the state the JSON state file SOURCE, lineage and serial included."""
    from reconciler.commands import state as command

    ctx.exit(command.push(source, force, lock_timeout))


@state.command(name="migrate", epilog=_env_help(_STATE_ENV, _DEBUG_ENV))
@click.option(
    "--to",
    "destination",
    required=True,
    metavar="DEST",
    help="A state file (relative to the workspace) or a postgresql:// URL.",
)
@click.option("--workspace", "name", help="The workspace's name in a destination database.")
@_lock_option
@click.pass_context
def state_migrate(
    ctx: click.Context, destination: str, name: str | None, lock_timeout: float
) -> None:
    """Copy the state to another backend, verified by reading it back."""
    from reconciler.commands import state as command

    ctx.exit(command.migrate(destination, name, lock_timeout))


@cli.command(name="force-unlock", epilog=_env_help(_STATE_ENV, _DEBUG_ENV))
@click.argument("lock_id")
@click.option(
    "--force",
    is_flag=True,
    help="Release it even when its holder is a process running on this machine.",
)
@click.option(
    "--yes",
    "-auto-approve",
    "--auto-approve",
    "yes",
    is_flag=True,
    help="Do not ask for confirmation on a terminal.",
)
@click.pass_context
def force_unlock(ctx: click.Context, lock_id: str, force: bool, yes: bool) -> None:
    """Remove the state lock LOCK_ID, when its holder cannot release it (it died, or is on
    another machine). Shows the holder, asks on a terminal, and refuses a holder that is
    running on this machine unless --force."""
    from reconciler.commands import force_unlock as command

    ctx.exit(command.run(lock_id, force, yes))


@cli.command(epilog=_env_help(_DEBUG_ENV))
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="0 picks a free port.",
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Keep the store in FILE, so that it survives restarts (created when missing).",
)
@click.option(
    "--seed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON or YAML list of customers, shaped as GET /customers/{id} returns them.",
)
@click.option("--customers", type=click.IntRange(min=0), default=0, help="Generate N customers.")
@click.option("--user", default="admin", show_default=True, help="Administrator user name.")
@click.option("--app-password", help="Its application password (default: a random one, printed).")
@click.option(
    "--name-mode",
    type=click.Choice(["full_name", "first_last"]),
    help="The checkout's name fields (default: full_name).",
)
@click.option(
    "--site-url", help="Public base URL written into answers (default: the sandbox's own)."
)
@click.option(
    "--wp-user",
    "wp_users",
    multiple=True,
    metavar="ID:LOGIN:ROLE",
    help="Another WordPress user (repeatable).",
)
@click.option(
    "--latency-ms", type=click.FloatRange(min=0), default=0, help="Delay before every answer."
)
@click.option(
    "--fail-rate", type=click.FloatRange(0, 1), default=0, help="Share of requests answered 503."
)
@click.option(
    "--throttle-rate",
    type=click.FloatRange(0, 1),
    default=0,
    help="Share answered 429 with Retry-After.",
)
@click.option(
    "--drop-rate", type=click.FloatRange(0, 1), default=0, help="Share whose connection is reset."
)
@click.option("--fault-seed", type=int, help="Seed for the injected faults (repeatable runs).")
@click.option("--wp-debug", is_flag=True, help="Answer as with WP_DEBUG on.")
@click.pass_context
def sandbox(ctx: click.Context, **kwargs: Any) -> None:
    """Run a local FluentCart-compatible server (for the demo and tests).

    Without --data the store lives in memory and is gone when the sandbox stops. With --data
    FILE it survives restarts: a missing FILE is created with the store that --seed,
    --customers, --name-mode, --wp-user and --app-password describe; an existing one is used
    as it is (those options are then ignored, and --user names the user whose credentials are
    printed). Every change a request makes is in FILE before the request is answered.

    \b
    FILE is JSON lines, readable by its owner only:
      {"format": "fluentcart-sandbox", "version": 1, "name_mode": "full_name", "next_id": 4}
      {"user": {"id": 1, "login": "admin", "app_password": "...", ...}}
      {"customer": {"id": 3, "email": "...", "created_at": "...", ...}}
      {"customer": {...}, "user": {...}}
      {"deleted": [2]}

    The header comes first. Each further line is one change, with any of "customer" (the row
    as stored), "user" (a WordPress user), "deleted" (customer ids) and "next_id"; a later
    line replaces what an earlier one said. Changes are appended; at start-up the file is
    rewritten with one line per user and customer, and a last line that a killed sandbox left
    unfinished (a change it never answered) is dropped.
    """
    from reconciler.commands import sandbox as command

    ctx.exit(command.run(command.SandboxOptions(**kwargs)))


class _ReaderMayLeave(io.TextIOBase):
    """Standard output that outlives its reader: after `fluentcart apply | head -1` the run
    must still record every answer, remove its journal and release the lock, so a closed
    pipe turns output off instead of raising from wherever the next line is printed."""

    def __init__(self, stream: io.TextIOBase) -> None:
        self._stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._leave()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._leave()

    def _leave(self) -> None:
        self.gone = True
        # The interpreter flushes the real stdout at exit too: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def buffer(self) -> Any:
        """The byte stream underneath, for the rare bytes output (click's shell completion)."""
        return getattr(self._stream, "buffer", None)

    def isatty(self) -> bool:
        return self._stream.isatty()

    def writable(self) -> bool:
        return True

    # TextIOBase's encoding and errors are read-only properties at run time, attributes in the
    # type stubs: delegating them needs a property, which mypy sees as an override.
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors


def main() -> None:
    """Console entry point: no traceback reaches a user unless FLUENTCART_DEBUG is set."""
    if isinstance(sys.stdout, io.TextIOBase):
        sys.stdout = _ReaderMayLeave(sys.stdout)
    try:
        cli.main(prog_name="fluentcart")
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("FLUENTCART_DEBUG"):
            raise
        message = str(exc)[:300]
        secret = os.environ.get("FLUENTCART_APP_PASSWORD", "")
        for form in {secret, secret.replace(" ", "")} - {""}:
            message = message.replace(form, "<redacted>")
        for name in ("PGPASSWORD", "FLUENTCART_STATE"):
            value = os.environ.get(name, "")
            if value:
                from reconciler.storage.postgres import scrub

                message = (
                    scrub(message, value)
                    if name == "FLUENTCART_STATE"
                    else message.replace(value, "<redacted>")
                )
        click.echo(
            f"fluentcart: internal error: {type(exc).__name__}: {message}\n"
            "This is a bug; rerun with FLUENTCART_DEBUG=1 for the details and report it.",
            err=True,
        )
        sys.exit(70)
