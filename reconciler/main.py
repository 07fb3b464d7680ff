"""The `fluentcart` command line: parses arguments and dispatches; no logic lives here."""

import os
import sys
from pathlib import Path

import click

from reconciler import __version__
from reconciler.errors import FluentCartError

FORMAT_CHOICE = click.Choice(["text", "json", "markdown"])


class _Group(click.Group):
    """Turns the tool's own errors into a message and exit 1, once, for every command."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except FluentCartError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fluentcart")
@click.option(
    "-C",
    "directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Run in DIR (the workspace) instead of the current directory.",
)
def cli(directory: Path | None) -> None:
    """Declarative reconciler for FluentCart customer records."""
    if directory is not None:
        os.chdir(directory)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Check declared customer files offline (default: the workspace's)."""
    from reconciler.commands import validate as command

    ctx.exit(command.run(paths))


@cli.command()
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
@click.option(
    "-out",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan to FILE for `apply FILE`.",
)
@click.option(
    "--redact", is_flag=True, help="Mask the workspace's sensitive fields and email local parts."
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 without changes, 1 on error, 2 with changes."
)
@click.option(
    "--target",
    "targets",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="ID",
    help="Only this customer (repeatable).",
)
@click.option("--no-color", is_flag=True, help="Never colour the output.")
@click.pass_context
def plan(
    ctx: click.Context,
    fmt: str,
    out: Path | None,
    redact: bool,
    detailed_exitcode: bool,
    targets: tuple[int, ...],
    no_color: bool,
) -> None:
    """Show what apply would change, by diffing declared customers against the state."""
    from reconciler.commands import plan as command

    options = command.PlanOptions(fmt, out, redact, detailed_exitcode, targets, no_color)
    ctx.exit(command.run(options))


@cli.command()
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=FORMAT_CHOICE, default="text", show_default=True)
@click.option(
    "--redact", is_flag=True, help="Mask the workspace's sensitive fields and email local parts."
)
@click.option("--no-color", is_flag=True, help="Never colour the output.")
@click.pass_context
def show(ctx: click.Context, plan_file: Path, fmt: str, redact: bool, no_color: bool) -> None:
    """Render a saved plan exactly as `plan` printed it."""
    from reconciler.commands import show as command

    ctx.exit(command.run(plan_file, fmt, redact, no_color))


def _connect_options(function):  # type: ignore[no-untyped-def]
    """Options shared by the commands that talk to the store."""
    options = [
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
            "--lock-timeout",
            type=click.FloatRange(min=0),
            default=0,
            show_default=True,
            metavar="SECONDS",
            help="Wait this long for the state lock.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


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
@click.option(
    "--target",
    "targets",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="ID",
    help="Only this customer (repeatable).",
)
@click.option("--force", is_flag=True, help="Overwrite fields changed on the store since the plan.")
@click.option("--no-color", is_flag=True, help="Never colour the output.")
@_connect_options
@click.pass_context
def apply(
    ctx: click.Context,
    plan_file: Path | None,
    auto_approve: bool,
    parallelism: int | None,
    rate: float | None,
    targets: tuple[int, ...],
    force: bool,
    no_color: bool,
    insecure_http: bool,
    rest_route: bool,
    method_override: bool,
    lock_timeout: float,
) -> None:
    """Send the planned changes to the store and record what it returns."""
    from reconciler.commands import apply as command
    from reconciler.commands.context import ConnectOptions

    connect = ConnectOptions(insecure_http, rest_route, method_override)
    options = command.ApplyOptions(
        plan_file, auto_approve, parallelism, rate, targets, force, lock_timeout, connect, no_color
    )
    ctx.exit(command.run(options))


@cli.command(name="import")
@click.argument("ids", nargs=-1, type=click.IntRange(min=1))
@_connect_options
@click.pass_context
def import_(
    ctx: click.Context,
    ids: tuple[int, ...],
    insecure_http: bool,
    rest_route: bool,
    method_override: bool,
    lock_timeout: float,
) -> None:
    """Read declared customers from the store into the state (default: those not in it yet)."""
    from reconciler.commands import import_ as command
    from reconciler.commands.context import ConnectOptions

    ctx.exit(
        command.run(ids, lock_timeout, ConnectOptions(insecure_http, rest_route, method_override))
    )


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
def sandbox(ctx: click.Context, **kwargs: object) -> None:
    """Run a local FluentCart-compatible server (for the demo and tests)."""
    from reconciler.commands import sandbox as command

    ctx.exit(command.run(command.SandboxOptions(**kwargs)))  # type: ignore[arg-type]


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
        click.echo(
            f"fluentcart: internal error: {type(exc).__name__}: {str(exc)[:300]}\n"
            "This is a bug; rerun with FLUENTCART_DEBUG=1 for the details and report it.",
            err=True,
        )
        sys.exit(70)
