"""`fluentcart apply [PLANFILE]`: send the planned changes and record what the store returns."""

import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

import click

from reconciler import jsontext
from reconciler.apply import Applier, ApplyResult, CustomerResult, Outcome, now
from reconciler.breaker import StopKind
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
from reconciler.declared import Declaration
from reconciler.errors import FluentCartError
from reconciler.gitinfo import files_differing_from, head_commit
from reconciler.plan import Action, CustomerChange, Plan, build_plan, resolve_created
from reconciler.planfile import SavedPlan, load_plan, stale_reasons
from reconciler.state import StateFile
from reconciler.storage import StateStorage
from reconciler.views import render
from reconciler.views.events import ApplyEvents
from reconciler.views.redact import Redactor, ResultMask, redact_plan
from reconciler.workspace import DEFAULT_PARALLELISM, NameMode, Workspace, load_workspace

# After the first Ctrl-C, the requests in flight get this long to finish before the run exits
# at once (as on a second Ctrl-C); a store that hangs cannot hold the user.
INTERRUPT_GRACE = 10.0
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
    update_yaml: bool = False
    detailed_exitcode: bool = False
    require_clean: bool = False
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    no_color: bool = False
    redact: bool = False


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

        return refresh.run(
            options.targets,
            not interactive,
            options.lock_timeout,
            options.connect,
            options.update_yaml,
        )
    parallelism = options.parallelism or workspace.parallelism or DEFAULT_PARALLELISM
    targets = saved.targets if saved else options.targets
    offline, offline_mode = declare_offline(workspace)
    redactor = Redactor(workspace.sensitive, options.redact)
    require_valid(offline, "nothing was applied", redactor)
    with (
        connect(
            workspace, options.connect, parallelism, events.retry if events else None
        ) as client,
        opened_state(workspace, "apply", options.lock_timeout, client) as opened,
    ):
        on_disk, state = opened.on_disk, opened.state
        mode = resolve_name_mode(workspace, on_disk, client)
        if saved is not None and saved.name_mode is not None and saved.name_mode != mode:
            # Before the declared files are read again in the new mode: the plan is the
            # problem, not the files (which may need rewriting for the new mode).
            raise _stale(
                [
                    f"the plan was made in {saved.name_mode} mode, the store is now in {mode}"
                    " mode (its checkout name fields changed): declare the names for the new mode"
                ]
            )
        declaration = offline if mode == offline_mode else declare(workspace, mode)
        require_valid(declaration, "nothing was applied", redactor)
        if targets:  # --target names ids: no customer to create is one of them
            declaration = replace(declaration, creates={})
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
            plan = build_plan(
                declaration, on_disk, mode, targets, live, create_labels=workspace.create_labels
            )
        # With --json, stdout carries only events; the plan still goes to the log, on stderr.
        color = use_color(options.no_color) and events is None
        shown = redact_plan(plan, redactor)
        click.echo(
            render(shown, "text", color, workspace.summary_over),
            nl=False,
            err=events is not None,
        )
        if plan.summary.errors:
            raise FluentCartError("the plan has errors; nothing was applied")
        state.name_mode = mode
        if live is not None:
            _record_live(state, live.found)
            if live.labels is not None:
                state.labels = live.labels
        updates = sum(c.action in (Action.CREATE, Action.UPDATE) for c in plan.changes)
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
        declaration = resolve_created(declaration, on_disk)
        jsontext.keep_for_the_run()  # the PUTs' garbage is collected without rescanning these
        mask = ResultMask(redactor, plan, {i: c.fields for i, c in declaration.customers.items()})

        def finish() -> None:
            for change in plan.changes:
                if change.action is Action.FORGET:
                    state.customers.pop(change.id, None)
            if client.catalog is not None:  # the labels as this run last read (and made) them
                state.labels = client.catalog
            opened.storage.persist(state, on_disk)

        result = _apply(
            plan,
            declaration,
            mode,
            client,
            parallelism,
            options,
            opened.storage,
            mask,
            finish,
            events,
            workspace.create_labels,
        )
        return _summary(plan, result, client.retries, options, events)


def _record_live(state: StateFile, found: Mapping[int, dict]) -> None:
    """Customers read by a refresh are recorded as the store has them (PUT answers win later)."""
    for customer_id, customer in found.items():
        record = state.customers.get(customer_id)
        if record is not None and record.observed != customer:
            state.customers[customer_id] = replace(record, observed=customer, observed_at=now())


def _apply(
    plan: Plan,
    declaration: Declaration,
    mode: NameMode,
    client: FluentCartClient,
    parallelism: int,
    options: ApplyOptions,
    storage: StateStorage,
    mask: ResultMask,
    finish: Callable[[], None],
    events: "ApplyEvents | None" = None,
    create_labels: bool = True,
) -> ApplyResult:
    """`finish` records the run's end (persist) once every answer is recorded, still under
    the Ctrl-C handler: a Ctrl-C then ends the run as interrupted once that is done, and
    a second exits at once. `create_labels` False (the workspace's setting now): no label
    is created, whatever a saved plan announced."""
    updates = [c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE)]
    recorder = storage.recorder(max(1, min(parallelism, len(updates))))
    applier = Applier(
        client,
        recorder,
        mode,
        declaration.customers,
        parallelism,
        options.rate,
        options.force,
        new_labels=plan.new_labels if create_labels else (),
        creates=declaration.creates,
    )
    previous = signal.getsignal(signal.SIGINT)
    interrupts = Interrupts(applier, events)
    signal.signal(signal.SIGINT, interrupts.handle)
    client.breaker.start_deadline()  # from the start of sending: not the lock wait, the prompt
    try:
        try:
            result = _run_applier(applier, updates, options, events, mask)
        finally:
            interrupts.done()  # the grace is for requests in flight: there are none now
            recorder.close()  # every worker has finished: nothing writes to it any more
        finish()
    finally:
        signal.signal(signal.SIGINT, previous)
    # A Ctrl-C that came as the last customer finished, or while the answers' last commits
    # and the run's end were written, still ends the run as interrupted.
    result.interrupted = result.interrupted or applier.interrupted.is_set()
    result.results = [mask.result(r) for r in result.results]
    result.fatal = mask.text(result.fatal) if result.fatal else None
    return result


def _run_applier(
    applier: Applier,
    updates: list[CustomerChange],
    options: ApplyOptions,
    events: "ApplyEvents | None",
    mask: ResultMask,
) -> ApplyResult:
    """The applier's run, reporting each customer (redacted with --redact) as events, a
    progress bar or lines."""
    if events is not None:
        done = 0

        def report(outcome: CustomerResult) -> None:
            nonlocal done
            done += 1
            outcome = mask.result(outcome)
            events.customer(
                outcome.id or None,
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
                _print_result(mask.result(outcome))
        return result
    return applier.run(updates, on_result=lambda r: _print_result(mask.result(r)))


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
        raise _stale(problems)


def _stale(problems: list[str]) -> StalePlan:
    return StalePlan(
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
        "not_started": result.count(Outcome.NOT_STARTED),
    }
    notes = []
    if skipped_state:
        notes.append(
            f"{skipped_state} customer(s) are not in the state: run `fluentcart import` first."
        )
    if result.fatal:
        notes.append(f"Error: stopped: {result.fatal}")
    if result.stop is not None:
        notes.append(
            f"Error: stopped: {result.stop.message}. The requests in flight were finished and"
            " recorded; run apply again to continue"
            + (" once the store answers." if result.stop.kind is StopKind.UNREACHABLE else ".")
        )
    if result.interrupted:
        notes.append(
            "Interrupted: the requests in flight were finished and recorded; run apply again to continue."
        )
    retry_note = f" ({retries} retried request(s))" if retries else ""
    if result.interrupted:
        ended = "interrupted"
    elif result.stop is not None and result.stop.kind is StopKind.UNREACHABLE:
        ended = "stopped: the store is unreachable"
    elif result.stop is not None:
        ended = "stopped: the deadline passed"
    else:
        ended = "stopped" if result.fatal else "complete"
    not_started = f", {counts['not_started']} not started" if counts["not_started"] else ""
    line = (
        f"Apply {ended}: {counts['changed']} changed, {counts['unchanged']} unchanged,"
        f" {counts['failed']} failed, {counts['skipped']} skipped{not_started}.{retry_note}"
    )
    if result.interrupted or result.fatal or result.stop is not None:
        status = "error"
    elif counts["failed"] or counts["skipped"] or counts["not_started"]:
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
        events.summary(status, code, counts, retries, " ".join([line, *notes]), _stopped(result))
    else:
        click.echo(line)
    return code


def _stopped(result: ApplyResult) -> dict[str, str] | None:
    if result.interrupted:
        return {"reason": "interrupted", "message": "interrupted (Ctrl-C)"}
    if result.stop is None:
        return None
    stopped = {"reason": str(result.stop.kind), "message": result.stop.message}
    if result.stop.since is not None:
        stopped["unreachable_since"] = result.stop.since.isoformat(timespec="seconds")
    return stopped


def _print_result(outcome: CustomerResult) -> None:
    marker = {
        Outcome.CHANGED: "~",
        Outcome.UNCHANGED: "=",
        Outcome.FAILED: "!",
        Outcome.SKIPPED: "-",
    }[outcome.outcome]
    who = f"new customer {json.dumps(outcome.email)}" if outcome.email else f"customer {outcome.id}"
    click.echo(f"  {marker} {who}: {outcome.outcome}: {outcome.message}")


class Interrupts:
    """Ctrl-C during an apply.

    The first stops starting customers and stops retrying; the requests in flight finish and
    are recorded, for at most INTERRUPT_GRACE seconds. The second, or the end of that wait,
    exits at once: every customer whose PUT may have been sent has its intent recorded, so the
    next run reads it from the store again, and nothing the store accepted is lost.

    The handler runs in the main thread between any two bytecodes, possibly while that
    thread holds a lock (the thread pool's, the breaker's, a stream's): it only sets flags
    and writes to a file descriptor, or ends the process. The grace period is kept by a
    thread started beforehand, so the handler never starts one.
    """

    def __init__(self, applier: Applier, events: "ApplyEvents | None") -> None:
        self.applier = applier
        self.events = events
        self.finished = threading.Event()
        self.triggered = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="apply-grace", daemon=True)
        self.watcher.start()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.applier.interrupted.is_set():
            self.exit_now("Ctrl-C again")
            return
        self.applier.interrupt()
        self.triggered.set()
        _write(
            2,
            f"Interrupted: starting no more customers; waiting up to {INTERRUPT_GRACE:g} s for"
            f" the {self.applier.in_flight} in flight to finish and be recorded (Ctrl-C again"
            " stops at once; the next run reads those customers again)...",
        )

    def done(self) -> None:
        self.finished.set()
        self.triggered.set()  # the watcher ends: it finds the run finished

    def _watch(self) -> None:
        self.triggered.wait()
        if not self.finished.wait(INTERRUPT_GRACE):
            self.exit_now(f"{INTERRUPT_GRACE:g} s passed")

    def exit_now(self, why: str) -> None:
        counts = self.applier.counts()
        message = (
            f"Apply interrupted at once ({why}) with {self.applier.in_flight} customer(s) in"
            " flight: their intents are recorded, so the next apply or plan reads them from the"
            " store again. Run apply again to continue."
        )
        if threading.current_thread() is threading.main_thread():
            # From the handler: a flush that re-enters a write in progress raises, never
            # blocks. From the watcher, a flush could wait forever on a stuck main thread.
            with contextlib.suppress(Exception):
                sys.stdout.flush()
        if self.events is not None:
            event = {
                "type": "summary",
                "timestamp": now(),
                "status": "error",
                "exit_code": 130,
                "changed": counts.get(Outcome.CHANGED, 0),
                "unchanged": counts.get(Outcome.UNCHANGED, 0),
                "failed": counts.get(Outcome.FAILED, 0),
                "skipped": counts.get(Outcome.SKIPPED, 0),
                "not_started": counts.get(Outcome.NOT_STARTED, 0),
                "retries": self.applier.client.retries,
                "stopped": {"reason": "interrupted", "message": message},
                "message": message,
            }
            _write(1, json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        _write(2, message)
        os._exit(130)


def _write(fd: int, line: str) -> None:
    # Straight to the file descriptor: the main thread may be inside a write to the same
    # buffered stream, and a handler re-entering it would raise there.
    with contextlib.suppress(OSError):
        os.write(fd, (line + "\n").encode())
