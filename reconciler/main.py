"""The `fluentcart` command line: parses arguments and dispatches; no logic lives here.

Command modules are imported inside each command so that `fluentcart --version` and the
offline commands never load the HTTP stack.
"""

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reconciler import __version__
from reconciler.errors import FluentCartError

FORMAT_CHOICE = click.Choice(["text", "json", "markdown"])
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class _Group(click.Group):
    """Turns the tool's own errors into a message and exit 1, once, for every command."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FluentCartError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


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
        "--method-override",
        is_flag=True,
        help="Send PUT as POST with X-HTTP-Method-Override (proxies that block PUT).",
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
        help="Retries of a request on connection errors, 429, 502, 503, 504.",
    ),
)
_lock_option = click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    metavar="SECONDS",
    help="Wait this long for the state lock.",
)
_target_option = click.option(
    "--target",
    "targets",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="ID",
    help="Only this customer (repeatable).",
)
_color_option = click.option("--no-color", is_flag=True, help="Never colour the output.")
_redact_option = click.option(
    "--redact", is_flag=True, help="Mask the workspace's sensitive fields and email local parts."
)


def _connect(store: dict[str, Any]) -> Any:
    from reconciler.commands.context import ConnectOptions

    return ConnectOptions(**store)


def _pop_store(kwargs: dict[str, Any]) -> dict[str, Any]:
    names = ("insecure_http", "rest_route", "method_override", "timeout", "retries")
    return {name: kwargs.pop(name) for name in names}


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check declared customer files offline (default: the workspace's)."""
    from reconciler.commands import validate as command

    ctx.exit(command.run(paths))


@cli.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing: list the files that are not in canonical form and exit 1 if any.",
)
@click.option("--diff", is_flag=True, help="Show the changes as a unified diff.")
@click.pass_context
def fmt_command(ctx: click.Context, paths: tuple[Path, ...], check: bool, diff: bool) -> None:
    """Rewrite declared files in canonical form, keeping comments (default: the workspace's).

    Canonical form is what `import --generate-yaml` writes: fields in a fixed order, values
    quoted only where YAML needs it, two-space indentation. Files with errors are left alone.
    """
    from reconciler.commands import fmt as command

    ctx.exit(command.run(paths, check, diff))


@cli.command()
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
    "--detailed-exitcode", is_flag=True, help="Exit 0 without changes, 1 on error, 2 with changes."
)
@_target_option
@_color_option
@click.option(
    "--refresh",
    is_flag=True,
    help="Read the live customers first: show drift, diff against the store.",
)
@click.option(
    "--refresh-only",
    is_flag=True,
    help="Only show what changed on the store since it was recorded.",
)
@click.option(
    "--changed-since",
    metavar="REF",
    help="Only customers declared in files changed since the git commit REF (pull requests).",
)
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
    changed_since: str | None,
    **store: Any,
) -> None:
    """Show what apply would change (offline against the state, or --refresh from the store)."""
    from reconciler.commands import plan as command

    if changed_since and targets:
        raise FluentCartError("--changed-since and --target both choose the customers: give one")
    if refresh_only and out is not None:
        raise FluentCartError(
            "a --refresh-only plan cannot be saved; run `fluentcart refresh` instead"
        )
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
    )
    ctx.exit(command.run(options))


@cli.command()
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
@_redact_option
@_color_option
@click.pass_context
def show(ctx: click.Context, plan_file: Path, fmt: str, redact: bool, no_color: bool) -> None:
    """Render a saved plan exactly as `plan` printed it."""
    from reconciler.commands import show as command

    ctx.exit(command.run(plan_file, fmt, redact, no_color))


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Apply without asking (required when standard input is not a terminal).",
)
@click.option(
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
    "--refresh", is_flag=True, help="Plan from the live customers (drift is overwritten)."
)
@click.option(
    "--refresh-only",
    is_flag=True,
    help="Only record the store's values in the state (like refresh).",
)
@click.option("--json", "json_events", is_flag=True, help="One JSON event per line on stdout.")
@click.option(
    "--require-clean",
    is_flag=True,
    help="Refuse a saved plan when the declared files differ from the git commit it was made at.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 without changes, 2 when all changes applied, 3 on partial failure, 1 on error.",
)
@_color_option
@_store_options
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
    require_clean: bool,
    detailed_exitcode: bool,
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
        detailed_exitcode=detailed_exitcode,
        require_clean=require_clean,
        connect=_connect(store),
        no_color=no_color,
    )
    ctx.exit(command.run(options))


@cli.command()
@_target_option
@click.option("--auto-approve", is_flag=True, hidden=True, help="Accepted for symmetry with apply.")
@_store_options
@_lock_option
@click.pass_context
def refresh(
    ctx: click.Context,
    targets: tuple[int, ...],
    auto_approve: bool,
    lock_timeout: float,
    **store: Any,
) -> None:
    """Record the store's current values in the state, without changing the store."""
    from reconciler.commands import refresh as command

    connect = _connect(store)
    ctx.exit(command.run(targets, True, lock_timeout, connect))


@cli.command(name="import")
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
    default=1,
    show_default=True,
    metavar="N",
    help="Customers per generated file.",
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
        lock_timeout=lock_timeout,
        connect=_connect(store),
    )
    ctx.exit(command.run(options))


@cli.group(cls=_Group)
def state() -> None:
    """Inspect or edit the state file (never the store)."""


@state.command(name="list")
@click.pass_context
def state_list(ctx: click.Context) -> None:
    """One line per recorded customer."""
    from reconciler.commands import state as command

    ctx.exit(command.list_())


@state.command(name="show")
@click.argument("customer_id", type=click.IntRange(min=1))
@click.pass_context
def state_show(ctx: click.Context, customer_id: int) -> None:
    """The recorded customer object, formatted."""
    from reconciler.commands import state as command

    ctx.exit(command.show(customer_id))


@state.command(name="rm")
@click.argument("customer_ids", nargs=-1, required=True, type=click.IntRange(min=1))
@_lock_option
@click.pass_context
def state_rm(ctx: click.Context, customer_ids: tuple[int, ...], lock_timeout: float) -> None:
    """Stop managing customers: drop them from the state, leave the store alone."""
    from reconciler.commands import state as command

    ctx.exit(command.rm(customer_ids, lock_timeout))


@cli.command(name="force-unlock")
@click.argument("lock_id")
@click.pass_context
def force_unlock(ctx: click.Context, lock_id: str) -> None:
    """Remove the state lock LOCK_ID, when its holder cannot release it."""
    from reconciler.commands import force_unlock as command

    ctx.exit(command.run(lock_id))


@cli.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="0 picks a free port.",
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
    default="full_name",
    show_default=True,
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
    """Run a local FluentCart-compatible server (for the demo and tests)."""
    from reconciler.commands import sandbox as command

    ctx.exit(command.run(command.SandboxOptions(**kwargs)))


def main() -> None:
    """Console entry point: no traceback reaches a user unless FLUENTCART_DEBUG is set."""
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
        click.echo(
            f"fluentcart: internal error: {type(exc).__name__}: {message}\n"
            "This is a bug; rerun with FLUENTCART_DEBUG=1 for the details and report it.",
            err=True,
        )
        sys.exit(70)
