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
