"""`fluentcart sandbox`: run the local FluentCart-compatible server in the foreground."""

import json
import random
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler import yamlsource
from reconciler.errors import FluentCartError
from reconciler.sandbox import DataFile, Sandbox, Store, WpUser
from reconciler.sandbox.server import Faults, default_users
from reconciler.sandbox.store import FIRST_LAST, FULL_NAME

FIRST_NAMES = ("Ada", "Grace", "Alan", "Marie", "Carlos", "Li", "Amara", "Jonas", "Priya", "Mateo")
LAST_NAMES = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Curie",
    "Santana",
    "Wei",
    "Okafor",
    "Berg",
    "Nair",
    "Rossi",
)
CITIES = (
    ("Toronto", "ON", "CA"),
    ("Austin", "TX", "US"),
    ("London", "", "GB"),
    ("Paris", "", "FR"),
)


@dataclass(frozen=True)
class SandboxOptions:
    port: int = 0
    data: Path | None = None
    seed: Path | None = None
    customers: int = 0
    user: str = "admin"
    app_password: str | None = None
    name_mode: str | None = None
    site_url: str | None = None
    wp_users: tuple[str, ...] = ()
    latency_ms: float = 0.0
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    drop_rate: float = 0.0
    fault_seed: int | None = None
    wp_debug: bool = False


def read_seed(path: Path) -> list[dict]:
    """A JSON or YAML list of customer objects (or {"customers": [...]})."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text("utf-8"))
        else:
            data = yamlsource.read(path).value
    except (OSError, ValueError, yamlsource.YamlSourceError) as exc:
        raise FluentCartError(f"{path}: cannot read the seed file: {exc}") from None
    if isinstance(data, dict):
        data = data.get("customers")
    if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
        raise FluentCartError(f"{path}: the seed must be a list of customer objects")
    return data


def generated(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    customers = []
    for i in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, state, country = rng.choice(CITIES)
        customers.append(
            {
                "id": i,
                "email": f"customer{i}@example.test",
                "first_name": first,
                "last_name": last,
                "status": "active",
                "city": city,
                "state": state,
                "country": country,
                "postcode": f"{10000 + i}",
            }
        )
    return customers


def build_store(options: SandboxOptions, site_url: str, app_password: str) -> Store:
    users = default_users(options.user, app_password)
    for spec in options.wp_users:
        parts = spec.split(":")
        if len(parts) != 3 or not parts[0].isdigit():
            raise FluentCartError(
                f"--wp-user {spec!r}: expected ID:LOGIN:ROLE, for example 7:maria:subscriber"
            )
        user_id, login, role = int(parts[0]), parts[1], parts[2]
        users = [u for u in users if u.id != user_id]
        users.append(WpUser(user_id, login, f"{login}@example.test", role, nicename=login))
    store = Store(site_url, FIRST_LAST if options.name_mode == FIRST_LAST else FULL_NAME, users)
    customers = read_seed(options.seed) if options.seed else []
    customers += generated(options.customers) if options.customers else []
    for customer in customers:
        row = store.seed(customer)
        linked = int(row["user_id"])
        if linked and linked not in store.users:
            store.users[linked] = WpUser(
                linked, f"user{linked}", row["email"], nicename=f"user{linked}"
            )
    return store


def run(options: SandboxOptions) -> int:
    app_password = options.app_password or secrets.token_urlsafe(18)
    faults = Faults(
        latency_ms=options.latency_ms,
        fail_rate=options.fail_rate,
        throttle_rate=options.throttle_rate,
        drop_rate=options.drop_rate,
        seed=options.fault_seed,
    )
    sandbox = Sandbox(
        port=options.port, site_url=options.site_url, faults=faults, wp_debug=options.wp_debug
    )
    try:
        if options.data is None:
            sandbox.store = build_store(options, sandbox.site_url, app_password)
            return _serve(sandbox, options.user, app_password)
        with DataFile.open(
            options.data,
            sandbox.site_url,
            lambda: build_store(options, sandbox.site_url, app_password),
        ) as data:
            sandbox.store = data.store
            count = f"{len(data.store.customers)} customers"
            if data.created:
                note = f"Created the store in {data.path} ({count})."
                return _serve(sandbox, options.user, app_password, note)
            note = f"Using the store in {data.path} ({count})"
            ignored = _new_store_options(options)
            if ignored:
                note += f"; {', '.join(ignored)} ignored"
            return _serve(sandbox, options.user, _app_password(data, options.user), note + ".")
    finally:
        sandbox.server.server_close()


def _new_store_options(options: SandboxOptions) -> list[str]:
    """The options given that only shape a new store (a data file's store is used as it is)."""
    given = {
        "--seed": options.seed is not None,
        "--customers": options.customers > 0,
        "--name-mode": options.name_mode is not None,
        "--wp-user": bool(options.wp_users),
        "--app-password": options.app_password is not None,
    }
    return [name for name, present in given.items() if present]


def _app_password(data: DataFile, login: str) -> str:
    """`login`'s application password in a data file's store, for the exports printed."""
    for user in data.store.users.values():
        if user.login == login and user.app_password:
            return user.app_password
    logins = ", ".join(u.login for u in data.store.users.values() if u.app_password) or "none"
    raise FluentCartError(
        f"{data.path}: the store has no user {login!r} with an application password"
        f" (users with one: {logins}); name one with --user"
    )


def _serve(sandbox: Sandbox, user: str, app_password: str, note: str | None = None) -> int:
    click.echo(
        f"FluentCart sandbox listening on {sandbox.url} ({len(sandbox.store.customers)} customers)"
    )
    click.echo(f"  export FLUENTCART_URL={sandbox.url}")
    click.echo(f"  export FLUENTCART_USERNAME={user}")
    click.echo(f"  export FLUENTCART_APP_PASSWORD={app_password}")
    if note:
        click.echo(note)
    click.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()  # a script reading our output in a pipe needs the address now
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    return 0
