"""`fluentcart force-unlock LOCK_ID`: remove a lock whose holder cannot release it."""

import sys
from pathlib import Path

import click

from reconciler.lock import LockInfo
from reconciler.storage import open_storage
from reconciler.workspace import load_workspace


def run(lock_id: str, force: bool, yes: bool) -> int:
    workspace = load_workspace(Path.cwd())

    def confirm(holder: LockInfo) -> bool:
        if yes or not stdin_is_terminal():
            return True
        click.echo(f"Release {holder.describe()}? A run that still holds it keeps writing.")
        answer = click.prompt(
            "Only 'yes' will be accepted:", default="", show_default=False, prompt_suffix=" "
        )
        return answer.strip() == "yes"

    holder = open_storage(workspace).force_unlock(lock_id, force, confirm)
    click.echo(f"Released {holder.describe()}.")
    return 0


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()
