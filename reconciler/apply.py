"""Applying a plan: safe full-record PUTs, one customer at a time per worker.

FluentCart's PUT replaces the whole record (API.md 10.2), so every body is built from the
LIVE record read just before, with the declared values laid over it: an undeclared field,
the WordPress-user link and the average order value are sent back as they are. A customer
whose declared fields changed on the store since the plan is skipped, not overwritten. Each
answer is recorded the moment it arrives, so an interruption loses nothing the server took.
"""

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from reconciler import addresses
from reconciler.addresses import AddressAction, Addresses
from reconciler.breaker import Stop, StopKind
from reconciler.client import (
    AuthFailed,
    BadResponse,
    ClientError,
    CustomerNotFound,
    FluentCartClient,
    NotSent,
    PermissionDenied,
    ServerError,
    TransportError,
    ValidationFailed,
)
from reconciler.customer import FieldValue, is_linked, json_value, observed_value, same, satisfies
from reconciler.declared import DeclaredCustomer
from reconciler.diagnostics import short_repr
from reconciler.errors import StateError
from reconciler.fields import BY_NAME, CUSTOMER_FIELDS, Endpoint, Kind
from reconciler.labels import Labels
from reconciler.labels import key as labels_key
from reconciler.plan import Action, CustomerChange
from reconciler.rules import NotResendable, resendable, resendable_full_name
from reconciler.state import CREATED_FROM, CustomerRecord
from reconciler.storage import Recorder
from reconciler.workspace import NameMode

# Up to this many customers, each is read with its own GET; above, list pages may be cheaper.
PREFETCH_MIN = 3
# Intents are recorded a batch at a time, ahead of its PUTs (one database round trip for the
# batch instead of one per PUT), and a batch is taken only when the workers are down to two
# customers each: a run killed part-way leaves at most about this many intents more than it
# had PUTs in flight, each read from the store again by the next run.
INTENT_BATCH = 200


class Outcome(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_STARTED = "not-started"  # the run stopped first: nothing was sent for it


@dataclass(frozen=True, slots=True)  # one a change: 100,000 in an apply of that many
class CustomerResult:
    id: int
    outcome: Outcome
    message: str = ""
    not_applied: tuple[str, ...] = ()
    quoted: tuple[str, ...] = ()  # the fields whose values the message quotes (for --redact)
    email: str = ""  # a customer to create: its declared email (its id is 0 until created)


@dataclass
class ApplyResult:
    results: list[CustomerResult] = field(default_factory=list)
    fatal: str | None = None
    interrupted: bool = False
    stop: Stop | None = None  # the store unreachable, the deadline passed

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def build_body(
    live: Mapping[str, Any], declared: Mapping[str, FieldValue], mode: NameMode
) -> dict[str, Any]:
    """The PUT body: every writable field from the live record, the declared ones (as
    written in the YAML) laid over.

    Leaving a field out of a FluentCart PUT blanks it, zeroes `aov` and unlinks the
    WordPress user (API.md 2), so nothing is ever left out; a value the database cut is sent
    so that the server stores it again as it is (rules.resendable).
    """
    body: dict[str, Any] = {"id": live["id"]}
    for column in CUSTOMER_FIELDS:  # every field the PUT writes: the table says which
        if column.name_part:
            continue  # below: which ones the mode reads
        if column.kind is Kind.TEXT:
            body[column.name] = resendable(column.name, str(observed_value(live, column.name)))
        elif column.kind is Kind.INTEGER:
            body[column.name] = observed_value(live, column.name)
        else:  # the server's decimal, in its own string form ("83.00")
            value = live.get(column.name)
            body[column.name] = str(value if value is not None else "0.00")
    if mode is NameMode.FIRST_LAST:
        for name in ("first_name", "last_name"):
            body[name] = resendable(name, str(observed_value(live, name)))
    else:
        body["full_name"] = resendable_full_name(
            str(observed_value(live, "first_name")), str(observed_value(live, "last_name"))
        )
    for name, value in declared.items():
        if BY_NAME[name].endpoint is Endpoint.CUSTOMER:
            body[name] = value
    return body


def expected_values(
    change: CustomerChange, declared: Mapping[str, FieldValue]
) -> dict[str, FieldValue | None]:
    """What the plan saw on the store for each declared field.

    A changed field had its `before`; an unchanged one had the declared value (that is why it
    was unchanged). This holds for offline plans (the state) and refreshed ones (the store).
    """
    expected: dict[str, FieldValue | None] = dict(declared)
    expected.update({f.name: f.before for f in change.fields})
    return expected


def conflicts(
    live: Mapping[str, Any],
    expected: Mapping[str, FieldValue | None],
    declared: Mapping[str, FieldValue],
) -> list[str]:
    """Declared fields whose live value moved since the plan (and not to the declared value).
    Labels or addresses the plan did not know (not recorded) cannot have moved."""
    found = []
    for name, wanted in declared.items():
        before = expected.get(name)
        current = observed_value(live, name)
        if BY_NAME[name].kind in (Kind.TITLES, Kind.ADDRESSES) and before is None:
            continue
        if (
            isinstance(wanted, Addresses)
            and isinstance(before, Addresses)
            and isinstance(current, Addresses)
            and addresses.progressed(before, current, wanted)
        ):
            continue  # part of the way there: an apply that was interrupted
        if not same(current, before, wanted) and not satisfies(current, wanted):
            found.append(
                f"{name} was {short_repr(before)} when planned and is now {short_repr(current)}"
            )
    return found


class RateLimiter:
    """At most `rate` request starts per second across all workers (None: no cap)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            start = max(self._next, time.monotonic())
            self._next = start + self.interval
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class LabelNotPlanned(Exception):
    def __init__(self, titles: Labels) -> None:
        super().__init__(
            f"the store has no label {', '.join(map(short_repr, titles))}, and the plan did not"
            " say it would create one: `fluentcart plan` again (it shows + label)"
        )


class LabelBook:
    """The store's labels during an apply: the ids of declared titles, creating a label only
    when the plan announced it (`Plan.new_labels`). Workers share one book; creating is done
    under its lock, so a label is created once."""

    def __init__(self, client: FluentCartClient, announced: Iterable[str], limiter: RateLimiter):
        self.client = client
        self.announced = Labels(announced).keys()
        self.limiter = limiter
        self.created: list[str] = []
        self._lock = threading.Lock()

    def ids_for(self, titles: Labels) -> tuple[list[int], list[str]]:
        """(the label ids, sorted; the titles of labels created for them)."""
        with self._lock:
            catalog = self.client.known_labels()
            if catalog.missing(titles):  # another run may have made them since it was read
                self.limiter.wait()
                catalog = self.client.labels()
            missing = catalog.missing(titles)
            refused = Labels(t for t in missing if labels_key(t) not in self.announced)
            if refused:
                raise LabelNotPlanned(refused)
            made = []
            ids = {title: catalog.id_of(title) for title in titles}
            for title in missing:
                self.limiter.wait()
                try:
                    ids[title], stored = self.client.create_label(title)
                except ValidationFailed:
                    # `unique`: made meanwhile by someone else. Anything else is an answer.
                    self.limiter.wait()
                    ids[title] = self.client.labels().id_of(title)
                    if ids[title] is None:
                        raise
                    continue
                made.append(stored)
                self.created.append(stored)
            found = [label_id for label_id in ids.values() if label_id is not None]
            if len(found) != len(ids):  # never a shorter list than declared: it removes labels
                raise LabelNotPlanned(Labels(t for t, i in ids.items() if i is None))
            return sorted(set(found)), made


@dataclass
class Applier:
    client: FluentCartClient
    recorder: Recorder
    mode: NameMode
    declared: Mapping[int, DeclaredCustomer]
    parallelism: int = 4
    rate: float | None = None
    force: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    interrupted: threading.Event = field(default_factory=threading.Event)
    new_labels: tuple[str, ...] = ()  # the labels the plan said apply creates
    # Customers declared without an id, to create, by their email (lower-cased).
    creates: Mapping[str, DeclaredCustomer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.rate)
        self.labels = LabelBook(self.client, self.new_labels, self.limiter)
        self.breaker = self.client.breaker
        self._active = 0
        self._active_lock = threading.Lock()
        self._finished = dict.fromkeys(Outcome, 0)  # fixed keys: read without the lock
        self._relink_lock = threading.Lock()
        self._relink: tuple[str | None] | None = None  # (why address requests are refused,)

    @property
    def in_flight(self) -> int:
        """Customers a worker has started and not finished."""
        return self._active

    def counts(self) -> dict[Outcome, int]:
        """The outcomes of the customers finished so far (for an exit in the middle)."""
        return dict(self._finished)

    def interrupt(self) -> None:
        """Ctrl-C: start no more customers and stop retrying; the requests in flight finish
        and are recorded.

        Safe to call from a signal handler: it only sets flags, which the run checks between
        steps. (A KeyboardInterrupt raised inside the executor's own code could leave a worker
        thread unjoined, still writing after the run returned.)
        """
        self.interrupted.set()
        self.stop.set()
        self.breaker.halt(StopKind.INTERRUPTED, "interrupted (Ctrl-C)")

    def stopping(self) -> bool:
        return self.stop.is_set() or self.breaker.stopped is not None

    def run(
        self,
        changes: list[CustomerChange],
        on_result: Callable[[CustomerResult], None] = lambda r: None,
    ) -> ApplyResult:
        result = ApplyResult()
        # New customers first, one at a time: each is a POST that cannot be repeated safely.
        for change in (c for c in changes if c.action is Action.CREATE):
            if self.stopping():
                outcome = CustomerResult(
                    0, Outcome.NOT_STARTED, self._why_not_started(), email=change.email
                )
            elif change.email.lower() not in self.creates:
                # A saved plan applied again: this one was created by an earlier apply of it
                # (the state knows it by its email), and is not created twice.
                outcome = CustomerResult(
                    0,
                    Outcome.UNCHANGED,
                    "created by an earlier apply of this plan; `fluentcart plan` shows what is"
                    " left to change",
                    email=change.email,
                )
                on_result(outcome)
            else:
                outcome = self._create(change)
                on_result(outcome)
                self._note_fatal(result, outcome)
            result.results.append(outcome)
        updates = [c for c in changes if c.action is Action.UPDATE]
        by_id = {c.id: c for c in updates}
        executor = ThreadPoolExecutor(
            max_workers=max(1, self.parallelism), thread_name_prefix="apply"
        )
        # Finished futures arrive on a queue: waiting on the set of pending futures
        # (concurrent.futures.wait) locks every one of them on each call, which at a batch
        # of 200 in flight cost the main thread more than the workers' own requests.
        pending: set[Future[CustomerResult]] = set()
        finished: queue.SimpleQueue[Future[CustomerResult]] = queue.SimpleQueue()

        def collect(timeout: float) -> None:
            if not pending:
                return
            try:
                future = finished.get(timeout=timeout) if timeout else finished.get_nowait()
            except queue.Empty:
                return
            while True:
                pending.discard(future)
                if not future.cancelled():  # else interrupted before it started: skipped below
                    outcome = future.result()
                    result.results.append(outcome)
                    if outcome.outcome is not Outcome.NOT_STARTED:  # counted in the summary
                        on_result(outcome)
                    self._note_fatal(result, outcome)
                try:
                    future = finished.get_nowait()
                except queue.Empty:
                    return

        def submit(change: CustomerChange, live: dict[str, Any] | None) -> None:
            future = executor.submit(self._one, change, live)
            pending.add(future)
            future.add_done_callback(finished.put)

        try:
            # The live records that guard the PUTs: read page by page just ahead of the PUTs
            # when that takes fewer requests than one GET per customer; a customer the pages
            # did not show is read with its own GET by its worker. Each batch's intents are
            # recorded in one step before any of its PUTs can be sent.
            for batch in self._prefetch(sorted(by_id) if not self.stopping() else []):
                while len(pending) > 2 * self.parallelism and not self.stopping():
                    collect(0.2)  # the workers still have enough; intents stay few
                if self.stopping():
                    break
                try:
                    self.recorder.intend_ahead([customer_id for customer_id, _ in batch])
                except StateError as exc:
                    self.stop.set()
                    result.fatal = result.fatal or str(exc)
                    break
                for customer_id, live in batch:
                    if self.stopping():
                        break
                    submit(by_id[customer_id], live)
                    collect(0)
            while pending:
                if self.stopping():
                    for future in list(pending):
                        future.cancel()  # not started yet: never will be
                collect(0.2)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        result.interrupted = self.interrupted.is_set()
        done_ids = {r.id for r in result.results}
        for change in updates:
            if change.id not in done_ids:
                result.results.append(
                    CustomerResult(change.id, Outcome.NOT_STARTED, self._why_not_started())
                )
        stop = self.breaker.stopped
        cut_short = stop is not None and (
            stop.kind is StopKind.UNREACHABLE or result.count(Outcome.NOT_STARTED) > 0
        )
        if stop is not None and stop.kind is not StopKind.INTERRUPTED and cut_short:
            result.stop = stop  # a deadline that passed after the last customer stops nothing
        return result

    def _note_fatal(self, result: ApplyResult, outcome: CustomerResult) -> None:
        """The first failure that stopped the run (not an interrupt) is the run's error."""
        if (
            outcome.outcome is Outcome.FAILED
            and self.stop.is_set()
            and not self.interrupted.is_set()
            and result.fatal is None
        ):
            result.fatal = outcome.message

    def _why_not_started(self) -> str:
        stop = self.breaker.stopped
        if self.interrupted.is_set():
            return "not started: the run was interrupted"
        return f"not started: {stop.message}" if stop else "not started: the run stopped"

    def _prefetch(self, ids: list[int]) -> Iterator[list[tuple[int, dict[str, Any] | None]]]:
        """Batches of (id, live record or None) covering every id in id order, reading list
        pages if cheaper: a page's customers, or at most INTENT_BATCH ids at a time."""
        if len(ids) <= PREFETCH_MIN:
            yield from _batches([(customer_id, None) for customer_id in ids])
            return
        try:
            first = self._call(self.client.list_page, 1)
        except ClientError:  # the workers' own GETs will report what is wrong
            yield from _batches([(customer_id, None) for customer_id in ids])
            return
        pages = int(first.get("last_page") or 1)
        if pages >= len(ids):  # a big store and few changes: one GET each is cheaper
            shown = {item["id"]: item for item in first["data"]}
            yield from _batches([(customer_id, shown.get(customer_id)) for customer_id in ids])
            return
        waiting = set(ids)
        page, items = 1, first["data"]
        while True:
            found = [(item["id"], item) for item in items if item["id"] in waiting]
            waiting.difference_update(customer_id for customer_id, _ in found)
            yield from _batches(found)
            if not waiting or not items or page >= pages or self.stopping():
                break
            page += 1
            try:
                items = self._call(self.client.list_page, page)["data"]
            except ClientError:
                break
        yield from _batches([(customer_id, None) for customer_id in sorted(waiting)])

    def _set_addresses(self, customer_id: int, live: Mapping[str, Any], wanted: Addresses) -> None:
        """The address requests that make the customer's addresses the declared ones, from its
        addresses as just read: creates, then updates (a new primary before the old one loses
        its flag), then removes. Every address id sent is one of this customer's: FluentCart
        acts on the id in the body whatever customer the route names (API-2.md B)."""
        current = observed_value(live, "addresses")
        assert isinstance(current, Addresses)  # checked by the caller
        owned = {a.id for a in current.items}
        planned = addresses.steps(current, wanted)
        removes = sum(s.op.action is AddressAction.REMOVE for s in planned)
        if removes:
            # Counted with every type (the plan sees only billing and shipping): a DELETE of
            # the last one is refused, after its primary flag was taken away.
            creates = sum(s.op.action is AddressAction.CREATE for s in planned)
            total = self._call(self.client.address_count, customer_id)
            if total + creates - removes < 1:
                raise LastAddress(customer_id)
        for step in planned:
            op = step.op
            if op.action is AddressAction.CREATE:
                assert step.wanted is not None
                body = addresses.post_body(step.wanted, op.primary)
                self._call(self.client.create_address, customer_id, body)
                continue
            if step.current is None or step.current.id not in owned:
                raise AddressNotOwned(op.id, customer_id)
            if op.action is AddressAction.UPDATE:
                body = addresses.put_body(step.current, step.wanted, op.primary)
                self._call(self.client.update_address, customer_id, body)
                continue
            if not step.current.primary:
                self._call(self.client.delete_address, customer_id, step.current.id)
                continue
            # The server refuses to delete a primary address: its flag goes first. When the
            # DELETE is then refused and no declared address took the flag over, it comes
            # back (the type is not left without a primary).
            demote = addresses.put_body(step.current, None, False)
            self._call(self.client.update_address, customer_id, demote)
            try:
                self._call(self.client.delete_address, customer_id, step.current.id)
            except ClientError as exc:
                if isinstance(exc, NotSent) or wanted.of(op.kind):
                    raise
                # Harmless if the DELETE went through after all (the PUT then fails).
                restore = addresses.put_body(step.current, None, True)
                with contextlib.suppress(ClientError):  # the DELETE's error is the one to report
                    self._call(self.client.update_address, customer_id, restore)
                raise

    def _relinks(self) -> str | None:
        """Why no address request may be sent, or None. FluentCart links the customer whose
        email is the signed-in WordPress user's to that user on every address POST and PUT,
        whichever customer the request is for (API-2.md B; CustomerResource.php 385-417):
        an address request would silently change another record. Read once per run; when it
        cannot be read, no address request is sent (a transient failure is tried again for
        the next customer)."""
        with self._relink_lock:
            if self._relink is None:
                try:
                    self._relink = (self._relink_reason(),)
                except NotSent:
                    raise
                except ClientError as exc:
                    reason = (
                        "cannot tell whether an address request would link a customer to the"
                        f" WordPress user fluentcart signs in as ({exc}); no address request"
                        " was sent"
                    )
                    lasting = isinstance(exc, AuthFailed | PermissionDenied | CustomerNotFound)
                    if lasting:
                        self._relink = (reason,)
                    return reason
            (known,) = self._relink
        return known

    def _relink_reason(self) -> str | None:
        caller, email = self._call(self.client.caller)
        holder = self._call(self.client.customer_with_email, email) if email else None
        if holder is None:
            return None
        linked = observed_value(self._call(self.client.get_customer, holder), "user_id")
        if linked == caller:
            return None
        return (
            f"customer {holder} has the email of WordPress user {caller}, whom fluentcart signs"
            f" in as, and FluentCart links that customer to this user on every address request;"
            f" none was sent. Sign in as a WordPress user whose email no customer has, or link"
            f" customer {holder} to user {caller} first (user_id: {caller})"
        )

    def _create(self, change: CustomerChange) -> CustomerResult:
        """POST /customers with the declared fields, the new customer read and recorded at
        once (its id against the email it was declared by), then its labels and addresses."""
        declared = self.creates[change.email.lower()]
        email = str(declared.fields["email"])
        values = {**declared.fields, **declared.sent}
        body = {n: v for n, v in values.items() if BY_NAME[n].endpoint is Endpoint.CUSTOMER}
        if self.mode is NameMode.FIRST_LAST:
            body.pop("full_name", None)
        else:
            body.pop("first_name", None)
            body.pop("last_name", None)
        with self._active_lock:
            self._active += 1
        outcome = Outcome.FAILED
        try:
            result = self._create_one(declared, email, body)
            outcome = result.outcome
            return result
        except NotSent:
            outcome = Outcome.NOT_STARTED
            return CustomerResult(0, outcome, self._why_not_started(), email=email)
        except (AuthFailed, PermissionDenied) as exc:
            self.stop.set()
            return CustomerResult(0, Outcome.FAILED, str(exc), email=email)
        except ValidationFailed as exc:
            return CustomerResult(
                0, Outcome.FAILED, str(exc), quoted=tuple(exc.fields), email=email
            )
        except (ClientError, AddressNotOwned, LastAddress) as exc:
            return CustomerResult(0, Outcome.FAILED, str(exc), email=email)
        except StateError as exc:
            self.stop.set()
            return CustomerResult(0, Outcome.FAILED, str(exc), email=email)
        finally:
            with self._active_lock:
                self._active -= 1
                self._finished[outcome] += 1

    def _create_one(
        self, declared: DeclaredCustomer, email: str, body: dict[str, Any]
    ) -> CustomerResult:
        user_id = body.get("user_id")
        if self._no_such_user(user_id):
            return CustomerResult(
                0,
                Outcome.FAILED,
                f"WordPress user {user_id} does not exist: a customer linked to it could never"
                " be edited (every PUT fails). Fix user_id in the YAML; nothing was sent",
                email=email,
            )
        try:
            new_id = self._call(self.client.create_customer, body)
        except ValidationFailed as exc:
            refused = exc.fields.get("email")
            if not (isinstance(refused, dict) and "exist" in refused):
                raise
            holder = self._call(self.client.customer_with_email, email)
            who = f"customer {holder}" if holder is not None else "a customer"
            return CustomerResult(
                0,
                Outcome.FAILED,
                f"{who} on the store"
                " already has this email (made outside fluentcart, or by an apply interrupted"
                " before it recorded it); nothing was created. To manage it here,"
                f" {_import_hint(holder, declared.file)}",
                email=email,
            )
        except (ServerError, BadResponse, TransportError) as exc:
            # No answer, or not one that says: the customer may have been made.
            try:
                holder = self._call(self.client.customer_with_email, email)
            except ClientError:
                holder = None
            if holder is None:
                raise
            return CustomerResult(
                0,
                Outcome.FAILED,
                f"{exc}; customer {holder} now has this email: the request was probably made"
                f" and its answer lost. If it is the one this apply created,"
                f" {_import_hint(holder, declared.file)}",
                email=email,
            )
        # Recorded at once, against the email: a later failure must not lose the new id.
        # First what the POST answered (its id and email), then the customer as GET reads it.
        self.recorder.record(
            new_id, CustomerRecord({"id": new_id, "email": email}, now(), _applied({}, email))
        )
        try:
            live = self.client.get_customer(new_id)  # not rate-limited: it must not wait
        except ClientError as exc:
            return CustomerResult(
                new_id,
                Outcome.FAILED,
                f"created as customer {new_id}; reading it back failed: {exc}. `fluentcart plan"
                " --refresh` reads it",
                email=email,
            )
        fields = {
            n: v for n, v in declared.fields.items() if BY_NAME[n].endpoint is Endpoint.CUSTOMER
        }
        kept = {n: v for n, v in fields.items() if satisfies(observed_value(live, n), v)}
        self.recorder.record(new_id, CustomerRecord(live, now(), _applied(kept, email)))
        if all(satisfies(observed_value(live, n), v) for n, v in declared.fields.items()):
            return CustomerResult(
                new_id, Outcome.CHANGED, f"created as customer {new_id}", email=email
            )
        expected = {n: observed_value(live, n) for n in declared.fields}
        try:
            then = self._apply(new_id, declared.fields, expected, live, declared.sent, email)
        except (ClientError, AddressNotOwned, LastAddress) as exc:
            if isinstance(exc, AuthFailed | PermissionDenied):
                self.stop.set()
            return CustomerResult(
                new_id, Outcome.FAILED, f"created as customer {new_id}; then {exc}", email=email
            )
        message = f"created as customer {new_id}; then {then.outcome}: {then.message}"
        done = (Outcome.CHANGED, Outcome.UNCHANGED)
        outcome = Outcome.CHANGED if then.outcome in done else Outcome.FAILED
        return replace(then, id=new_id, outcome=outcome, message=message, email=email)

    def _no_such_user(self, user_id: object) -> bool:
        """Whether `user_id` names a WordPress user the store does not have: linking a
        customer to one makes it uneditable (every later PUT fails, API-2.md D)."""
        return (
            isinstance(user_id, int)
            and user_id != 0
            and not self._call(self.client.wp_user_exists, user_id)
        )

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        self.limiter.wait()
        return function(*args)

    def _one(self, change: CustomerChange, live: dict[str, Any] | None = None) -> CustomerResult:
        if self.stopping():
            return CustomerResult(change.id, Outcome.NOT_STARTED, self._why_not_started())
        with self._active_lock:
            self._active += 1
        outcome = Outcome.FAILED  # should the worker itself fail
        try:
            result = self._attempt(change, live)
            outcome = result.outcome
            return result
        finally:
            with self._active_lock:
                self._active -= 1
                self._finished[outcome] += 1

    def _attempt(self, change: CustomerChange, live: dict[str, Any] | None) -> CustomerResult:
        customer_id = change.id
        declared = self.declared[customer_id].fields
        try:
            return self._apply(
                customer_id,
                declared,
                expected_values(change, declared),
                live,
                self.declared[customer_id].sent,
                self.declared[customer_id].created_from,
            )
        except NotSent:
            return CustomerResult(customer_id, Outcome.NOT_STARTED, self._why_not_started())
        except (AuthFailed, PermissionDenied) as exc:
            self.stop.set()  # every other request would fail the same way
            return CustomerResult(customer_id, Outcome.FAILED, str(exc))
        except CustomerNotFound:
            return CustomerResult(
                customer_id,
                Outcome.FAILED,
                "does not exist on the store (deleted outside fluentcart?)",
            )
        except ValidationFailed as exc:
            return CustomerResult(customer_id, Outcome.FAILED, str(exc), quoted=tuple(exc.fields))
        except ClientError as exc:
            return CustomerResult(customer_id, Outcome.FAILED, str(exc))
        except StateError as exc:
            # The state cannot take what the store answers (a full disk, a lost database):
            # no more PUTs. One whose answer was not recorded is resolved by the next run.
            self.stop.set()
            return CustomerResult(customer_id, Outcome.FAILED, str(exc))

    def _apply(
        self,
        customer_id: int,
        declared: Mapping[str, FieldValue],
        expected: Mapping[str, FieldValue | None],
        live: dict[str, Any] | None,
        sent: Mapping[str, FieldValue],
        created_from: str | None = None,
    ) -> CustomerResult:
        """`declared`: the values the store should hold; `sent`: the declared text where the
        server cleans it into those (the PUT carries what the user wrote). The customer's
        columns go in one full-record PUT, its labels in one full-set PUT of additional-info,
        each only when something in it changes."""
        if live is None:
            live = self._call(self.client.get_customer, customer_id)
        moved = conflicts(live, expected, declared)
        if moved and not self.force:
            return CustomerResult(
                customer_id,
                Outcome.SKIPPED,
                "changed outside fluentcart since the plan: "
                + "; ".join(moved)
                + ". `fluentcart plan --refresh` shows it (or apply with --force to overwrite)",
                quoted=tuple(declared),
            )
        try:
            body = build_body(live, {**declared, **sent}, self.mode)
        except NotResendable as exc:
            return CustomerResult(customer_id, Outcome.FAILED, str(exc), quoted=(exc.field,))
        pending = {
            name: value
            for name, value in declared.items()
            if not satisfies(observed_value(live, name), value)
        }
        if not pending:
            self.recorder.record(
                customer_id, CustomerRecord(live, now(), _applied(declared, created_from))
            )
            return CustomerResult(
                customer_id, Outcome.UNCHANGED, "already as declared on the store"
            )
        if "email" in pending and is_linked(live):
            return CustomerResult(
                customer_id,
                Outcome.FAILED,
                f"linked to WordPress user {observed_value(live, 'user_id')}: FluentCart keeps the old"
                " email; change it in wp-admin (Users)",
            )
        target_user = pending.get("user_id")
        if self._no_such_user(target_user):
            return CustomerResult(
                customer_id,
                Outcome.FAILED,
                f"WordPress user {target_user} does not exist: linking to it would make the customer"
                " uneditable (every later PUT fails). Fix user_id in the YAML",
            )
        titles = pending.get("labels")
        if isinstance(titles, Labels) and observed_value(live, "labels") is None:
            return CustomerResult(  # never a full-set PUT over labels not known
                customer_id,
                Outcome.FAILED,
                "the store's answer did not carry the customer's labels; nothing was sent",
            )
        wanted_addresses = pending.get("addresses")
        if isinstance(wanted_addresses, Addresses) and observed_value(live, "addresses") is None:
            return CustomerResult(  # never a whole-address request over addresses not known
                customer_id,
                Outcome.FAILED,
                "the store's answer did not carry the customer's addresses; nothing was sent",
            )
        if isinstance(wanted_addresses, Addresses):
            refused = self._relinks()
            if refused is not None:
                return CustomerResult(customer_id, Outcome.FAILED, refused, quoted=("addresses",))
        label_ids: list[int] | None = None
        created: list[str] = []
        if isinstance(titles, Labels):
            try:
                label_ids, created = self.labels.ids_for(titles)
            except LabelNotPlanned as exc:
                return CustomerResult(customer_id, Outcome.FAILED, str(exc), quoted=("labels",))
        columns = [name for name in pending if BY_NAME[name].endpoint is Endpoint.CUSTOMER]
        self.recorder.intend(customer_id)  # durable before the PUT: its answer may be lost
        returned = live
        if columns:
            try:
                answer = self._call(self.client.update_customer, customer_id, body)
            except (AuthFailed, PermissionDenied, CustomerNotFound, ValidationFailed, NotSent):
                self.recorder.release(customer_id)  # refused (4xx) or never sent: nothing changed
                raise
            # The PUT neither reads nor writes labels or addresses: the customer keeps them.
            kept = {k: live[k] for k in ("labels", "addresses") if k in live}
            returned = {**answer, **kept}
        if label_ids is not None:
            try:
                self._call(self.client.set_labels, customer_id, label_ids)
            except ClientError as exc:
                # What the customer's labels are now is not known: recorded as not read, so
                # that the next plan shows them and the next apply reads them first.
                unknown = {k: v for k, v in returned.items() if k != "labels"}
                applied = {
                    n: v
                    for n, v in declared.items()
                    if n != "labels" and observed_value(returned, n) == v
                }
                self.recorder.record(
                    customer_id, CustomerRecord(unknown, now(), _applied(applied, created_from))
                )
                if isinstance(exc, AuthFailed | PermissionDenied):
                    self.stop.set()  # every other request would fail the same way
                done = f"updated {', '.join(sorted(columns))}; " if columns else ""
                return CustomerResult(
                    customer_id, Outcome.FAILED, f"{done}labels not set: {exc}", ("labels",)
                )
            catalog = self.client.known_labels()
            returned = {**returned, "labels": list(Labels(map(catalog.title_of, label_ids)))}
        if isinstance(wanted_addresses, Addresses):
            try:
                self._set_addresses(customer_id, live, wanted_addresses)
                returned = {**returned, "addresses": self._call(self.client.addresses, customer_id)}
            except (ClientError, AddressNotOwned, LastAddress) as exc:
                # Which addresses the customer has now is not known: recorded as not read
                # (refused before any address request: as just read).
                unknown = {k: v for k, v in returned.items() if k != "addresses"}
                if isinstance(exc, LastAddress) and "addresses" in live:
                    unknown["addresses"] = live["addresses"]
                applied = {
                    n: v
                    for n, v in declared.items()
                    if n != "addresses" and satisfies(observed_value(returned, n), v)
                }
                self.recorder.record(
                    customer_id, CustomerRecord(unknown, now(), _applied(applied, created_from))
                )
                if isinstance(exc, AuthFailed | PermissionDenied):
                    self.stop.set()
                others = [n for n in pending if n != "addresses"]
                head = f"updated {', '.join(sorted(others))}; " if others else ""
                return CustomerResult(
                    customer_id,
                    Outcome.FAILED,
                    f"{head}addresses not all set: {exc}",
                    ("addresses",),
                )
        missed = tuple(
            name
            for name, value in declared.items()
            if not satisfies(observed_value(returned, name), value)
        )
        applied = {name: value for name, value in declared.items() if name not in missed}
        self.recorder.record(
            customer_id, CustomerRecord(returned, now(), _applied(applied, created_from))
        )
        if missed:
            details = ", ".join(
                f"{name} (the store's addresses differ from the declared ones after the requests)"
                if name == "addresses"
                else f"{name} (sent {short_repr(declared[name])}, the store kept {short_repr(observed_value(returned, name))})"
                for name in missed
            )
            return CustomerResult(
                customer_id, Outcome.FAILED, f"not applied: {details}", missed, missed
            )
        fields = ", ".join(sorted(pending))
        made = (
            f" (created label{'s' if len(created) > 1 else ''} {', '.join(map(short_repr, created))})"
            if created
            else ""
        )
        quoted = ("labels",) if created else ()
        return CustomerResult(customer_id, Outcome.CHANGED, f"updated {fields}{made}", (), quoted)


class LastAddress(Exception):
    def __init__(self, customer_id: int) -> None:
        super().__init__(
            f"these requests would remove every address of customer {customer_id} (counted with"
            " the types fluentcart leaves alone); FluentCart keeps at least one, so nothing was"
            " sent: declare one, or leave `addresses` out"
        )


class AddressNotOwned(Exception):
    def __init__(self, address_id: int | None, customer_id: int) -> None:
        super().__init__(
            f"address {address_id} is not one of customer {customer_id}'s addresses as just read;"
            " nothing was sent for it (FluentCart would change it whatever customer it belongs to)"
        )


def _import_hint(holder: int | None, file: str) -> str:
    if holder is None:
        return "import it and write its id in the YAML"
    return f"`fluentcart import {holder}` and write `id: {holder}` in {file}"


def _applied(declared: Mapping[str, FieldValue], created_from: str | None = None) -> dict[str, Any]:
    """A record's last_applied: the declared values sent, and for a customer created from a
    declaration without an id, the email it was declared by (how later plans find it)."""
    applied = {name: json_value(value) for name, value in declared.items()}
    if created_from is not None:
        applied[CREATED_FROM] = created_from
    return applied


def _batches(
    items: list[tuple[int, dict[str, Any] | None]],
) -> Iterator[list[tuple[int, dict[str, Any] | None]]]:
    for start in range(0, len(items), INTENT_BATCH):
        yield items[start : start + INTENT_BATCH]
