"""`fluentcart force-unlock LOCK_ID`: remove a lock whose holder cannot release it."""

from pathlib import Path

import click

from reconciler.storage import open_storage
from reconciler.workspace import load_workspace


def run(lock_id: str) -> int:
    workspace = load_workspace(Path.cwd())
    holder = open_storage(workspace).force_unlock(lock_id)
    click.echo(f"Released {holder.describe()}.")
    return 0
