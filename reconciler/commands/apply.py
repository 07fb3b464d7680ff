"""`fluentcart apply [PLANFILE]`: send the planned changes and record what the store returns."""

import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import click

from reconciler.apply import Applier, ApplyResult, CustomerResult, Outcome, now
from reconciler.client import FluentCartClient
from reconciler.commands.context import (
    ConnectOptions,
    connect,
    declare,
    declare_offline,
    opened_state,
    read_live,
    require_valid,
    resolve_name_mode,
    use_color,
)
from reconciler.declared import Declaration, DeclaredCustomer
from reconciler.errors import FluentCartError
from reconciler.gitinfo import files_differing_from, head_commit
from reconciler.plan import Action, CustomerChange, Plan, build_plan
from reconciler.planfile import SavedPlan, load_plan, stale_reasons
from reconciler.state import StateFile
from reconciler.storage import StateStorage
from reconciler.views import render
from reconciler.views.events import ApplyEvents
from reconciler.workspace import DEFAULT_PARALLELISM, NameMode, Workspace, load_workspace

PROMPT = "Do you want to apply these changes? Only 'yes' will be accepted:"


class StalePlan(FluentCartError):
    """A saved plan no longer matches the state, the declared files or the site."""


@dataclass(frozen=True)
class ApplyOptions:
    plan_file: Path | None = None
    auto_approve: bool = False
    parallelism: int | None = None
    rate: float | None = None
    targets: tuple[int, ...] = ()
    force: bool = False
    lock_timeout: float = 0.0
    refresh: bool = False
    refresh_only: bool = False
    json_events: bool = False
    detailed_exitcode: bool = False
    require_clean: bool = False
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    no_color: bool = False


def run(options: ApplyOptions) -> int:
    events = ApplyEvents(click.echo) if options.json_events else None
    try:
        return _run(options, events)
    except FluentCartError as exc:
        if events is not None:
            events.summary("error", 1, {}, 0, str(exc))
        raise


def _run(options: ApplyOptions, events: "ApplyEvents | None") -> int:
    workspace = load_workspace(Path.cwd())
    saved = load_plan(options.plan_file) if options.plan_file else None
    interactive = saved is None and not options.auto_approve
    if interactive and events is not None:
        raise FluentCartError("--json needs --auto-approve or a saved plan: it never asks")
    if interactive and not stdin_is_terminal():
        raise FluentCartError(
            "standard input is not a terminal: pass --auto-approve to apply without the prompt"
        )
    if options.refresh_only:
        from reconciler.commands import refresh

        return refresh.run(options.targets, not interactive, options.lock_timeout, options.connect)
    parallelism = options.parallelism or workspace.parallelism or DEFAULT_PARALLELISM
    targets = saved.targets if saved else options.targets
    offline, offline_mode = declare_offline(workspace)
    require_valid(offline, "nothing was applied")
    with (
        connect(workspace, options.connect, parallelism) as client,
        opened_state(workspace, "apply", options.lock_timeout, client) as opened,
    ):
        on_disk, state = opened.on_disk, opened.state
        mode = resolve_name_mode(workspace, on_disk, client)
        declaration = offline if mode == offline_mode else declare(workspace, mode)
        require_valid(declaration, "nothing was applied")
        live = None
        if saved is not None:
            _check_saved(saved, on_disk, declaration, client.site, mode)
            _check_git(saved, workspace, options.require_clean)
            plan = saved.plan  # exactly what was reviewed; each customer is checked before its PUT
            base = (
                f"base state serial {saved.base_state.serial}" if saved.base_state else "no state"
            )
            commit = f"commit {plan.git_commit[:12]}" if plan.git_commit else "not a git checkout"
            click.echo(f"Applying the saved plan {plan.sha256[:16]} ({base}, {commit}).", err=True)
        else:
            if options.refresh:
                live = read_live(client, declaration, on_disk, targets)
            plan = build_plan(declaration, on_disk, mode, targets, live)
        # With --json, stdout carries only events; the plan still goes to the log, on stderr.
        color = use_color(options.no_color) and events is None
        click.echo(render(plan, "text", color), nl=False, err=events is not None)
        if plan.summary.errors:
            raise FluentCartError("the plan has errors; nothing was applied")
        state.name_mode = mode
        if live is not None:
            _record_live(state, live.found)
        updates = sum(c.action is Action.UPDATE for c in plan.changes)
        if events is not None:
            events.start(client.site, updates, plan.sha256, plan.to_dict()["summary"])
        if not plan.summary.has_changes:
            opened.storage.persist(state, on_disk)
            if events is not None:
                events.summary("no-changes", 0, {"unchanged": plan.summary.no_op}, 0, "No changes.")
            return 0
        if interactive:
            click.echo()
            answer = click.prompt(PROMPT, default="", show_default=False, prompt_suffix=" ")
            if answer.strip() != "yes":
                click.echo("Apply cancelled.")
                return 1
        result = _apply(
            plan,
            declaration.customers,
            mode,
            client,
            parallelism,
            options,
            opened.storage,
            events,
        )
        for change in plan.changes:
            if change.action is Action.FORGET:
                state.customers.pop(change.id, None)
        opened.storage.persist(state, on_disk)
        return _summary(plan, result, client.retries, options, events)


def _record_live(state: StateFile, found: Mapping[int, dict]) -> None:
    """Customers read by a refresh are recorded as the store has them (PUT answers win later)."""
    for customer_id, customer in found.items():
        record = state.customers.get(customer_id)
        if record is not None and record.observed != customer:
            record.observed = customer
            record.observed_at = now()


def _apply(
    plan: Plan,
    declared: Mapping[int, DeclaredCustomer],
    mode: NameMode,
    client: FluentCartClient,
    parallelism: int,
    options: ApplyOptions,
    storage: StateStorage,
    events: "ApplyEvents | None" = None,
) -> ApplyResult:
    updates = [c for c in plan.changes if c.action is Action.UPDATE]
    recorder = storage.recorder(max(1, min(parallelism, len(updates))))
    applier = Applier(client, recorder, mode, declared, parallelism, options.rate, options.force)
    previous = signal.getsignal(signal.SIGINT)
    _on_interrupt(applier)
    try:
        result = _run_applier(applier, updates, options, events)
    finally:
        signal.signal(signal.SIGINT, previous)
        recorder.close()  # every worker has finished: nothing writes to it any more
    # A Ctrl-C that came as the last customer finished still ends the run as interrupted.
    result.interrupted = result.interrupted or applier.interrupted.is_set()
    return result


def _run_applier(
    applier: Applier,
    updates: list[CustomerChange],
    options: ApplyOptions,
    events: "ApplyEvents | None",
) -> ApplyResult:
    """The applier's run, reporting each customer as events, a progress bar or lines."""
    if events is not None:
        done = 0

        def report(outcome: CustomerResult) -> None:
            nonlocal done
            done += 1
            events.customer(
                outcome.id,
                str(outcome.outcome),
                outcome.message,
                outcome.not_applied,
                done,
                len(updates),
            )

        return applier.run(updates, on_result=report)
    if sys.stdout.isatty() and not options.no_color:
        with click.progressbar(length=len(updates), label="Applying", file=sys.stderr) as bar:
            result = applier.run(updates, on_result=lambda r: bar.update(1))
        for outcome in result.results:
            if outcome.outcome in (Outcome.FAILED, Outcome.SKIPPED):
                _print_result(outcome)
        return result
    return applier.run(updates, on_result=_print_result)


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _check_git(saved: SavedPlan, workspace: Workspace, require_clean: bool) -> None:
    """Say when HEAD moved since the plan; with --require-clean, refuse declared files that
    differ from the commit the plan was made at."""
    planned = saved.plan.git_commit
    head = head_commit(workspace.root)
    if planned and head and head != planned:
        click.echo(
            f"note: HEAD has moved since the plan was made (plan: {planned[:12]}, now: {head[:12]});"
            " the declared files are the same as then (checked by content)",
            err=True,
        )
    if not require_clean:
        return
    if not planned:
        raise StalePlan("--require-clean: the plan was not made in a git checkout")
    differing = files_differing_from(workspace.root, planned, workspace.declared_files())
    if differing is None:
        raise StalePlan("--require-clean: cannot compare the declared files with git")
    if differing:
        raise StalePlan(
            f"--require-clean: declared files differ from commit {planned[:12]}, where the plan was"
            " made: " + ", ".join(differing) + ". Commit them and plan again."
        )


def _check_saved(
    saved: SavedPlan,
    state: StateFile | None,
    declaration: Declaration,
    site: str,
    mode: NameMode,
) -> None:
    problems = stale_reasons(
        saved, state, declaration.file_hashes, declaration.customers, site, mode
    )
    if problems:
        raise StalePlan(
            "the saved plan is stale and was not applied:\n  - "
            + "\n  - ".join(problems)
            + "\nRun `fluentcart plan -out FILE` again and review the new plan."
        )


def _summary(
    plan: Plan,
    result: ApplyResult,
    retries: int,
    options: ApplyOptions,
    events: "ApplyEvents | None",
) -> int:
    skipped_state = sum(c.action is Action.NOT_IN_STATE for c in plan.changes)
    counts = {
        "changed": result.count(Outcome.CHANGED),
        "unchanged": plan.summary.no_op + result.count(Outcome.UNCHANGED),
        "failed": result.count(Outcome.FAILED),
        "skipped": result.count(Outcome.SKIPPED) + skipped_state,
    }
    notes = []
    if skipped_state:
        notes.append(
            f"{skipped_state} customer(s) are not in the state: run `fluentcart import` first."
        )
    if result.fatal:
        notes.append(f"Error: stopped: {result.fatal}")
    if result.interrupted:
        notes.append(
            "Interrupted: the requests in flight were finished and recorded; run apply again to continue."
        )
    retry_note = f" ({retries} retried request(s))" if retries else ""
    ended = "interrupted" if result.interrupted else "stopped" if result.fatal else "complete"
    line = (
        f"Apply {ended}: {counts['changed']} changed, {counts['unchanged']} unchanged,"
        f" {counts['failed']} failed, {counts['skipped']} skipped.{retry_note}"
    )
    if result.interrupted or result.fatal:
        status = "error"
    elif counts["failed"] or counts["skipped"]:
        status = "partial-failure"
    else:
        status = "changes"
    if result.interrupted:
        code = 130
    elif options.detailed_exitcode:
        code = {"error": 1, "partial-failure": 3, "changes": 2}[status]
    else:
        code = 0 if status == "changes" else 1
    for note in notes:
        click.echo(note, err=True)
    if events is not None:
        events.summary(status, code, counts, retries, " ".join([line, *notes]))
    else:
        click.echo(line)
    return code


def _print_result(outcome: CustomerResult) -> None:
    marker = {
        Outcome.CHANGED: "~",
        Outcome.UNCHANGED: "=",
        Outcome.FAILED: "!",
        Outcome.SKIPPED: "-",
    }[outcome.outcome]
    click.echo(f"  {marker} customer {outcome.id}: {outcome.outcome}: {outcome.message}")


def _on_interrupt(applier: Applier) -> None:
    """Ctrl-C: stop starting customers and finish the ones in flight; again: just say so.

    The handler only sets the applier's flags: it never raises into whatever the main thread
    is doing, which could be the thread pool's own bookkeeping."""

    def handler(signum: int, frame: FrameType | None) -> None:
        message = (
            "Finishing the requests in flight..."
            if applier.interrupted.is_set()
            else "Interrupted: finishing the requests in flight, then recording them (Ctrl-C"
            " again does not cut them short)..."
        )
        applier.interrupt()
        # Straight to the file descriptor: the main thread may be inside a write to the same
        # buffered stream, and a handler re-entering it would raise there.
        with contextlib.suppress(OSError):
            os.write(2, (message + "\n").encode())

    signal.signal(signal.SIGINT, handler)
