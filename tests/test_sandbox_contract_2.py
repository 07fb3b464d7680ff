"""The sandbox replays the 199 exchanges of the second recording (API-2.md), in order.

Their starting point is the end state of the 72 of `exchanges.jsonl` (the install was restored
to it from a dump), so one sandbox replays that file first, then this one. Bodies are compared
as raw text after the same masking as the first file (timestamps, including those quoted in
SQL error messages, and uuids). Every exchange is checked; none is skipped.
"""

from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.test_sandbox_contract import (
    RECORDED_SITE,
    assert_vendored_copy,
    compare,
    read_exchanges,
    recorded_store,
    replay_file,
)

DATA = Path(__file__).parent / "data" / "fluentcart" / "exchanges-2.jsonl"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fluentcart" / "exchanges-2.jsonl"


def exchanges() -> list[dict]:
    return read_exchanges(DATA)


def test_vendored_recordings_match_shared() -> None:
    assert_vendored_copy(DATA, SHARED)


def test_there_are_199_recordings() -> None:
    assert [e["n"] for e in exchanges()] == [f"2.{i}" for i in range(199)]


def replay_all() -> list[tuple[object, str, tuple, tuple]]:
    """Replay file 1, then every recording of file 2 on the same sandbox; the ones that differ."""
    with Sandbox(recorded_store(), site_url=RECORDED_SITE, wp_debug=True) as sandbox:
        assert not replay_file(sandbox), "the first file no longer replays"
        sandbox.wp_debug = False
        mismatches = []
        for exchange in exchanges():
            mismatch = compare(sandbox, exchange)
            if mismatch is not None:
                mismatches.append(mismatch)
        return mismatches


def test_sandbox_replays_every_recording() -> None:
    mismatches = replay_all()
    assert not mismatches, f"{len(mismatches)} of 199 differ:\n\n" + "\n\n".join(
        f"#{n} {title}\n  recorded: {want}\n  sandbox:  {got}" for n, title, want, got in mismatches
    )


def _labels_kept_without_the_key(original):
    def update(self, route_id, params):
        if "labels" not in params:
            return 200, {"message": "Customer updated successfully!", "data": True}
        return original(self, route_id, params)

    return update


def _primaries_kept_on_failure(original):
    def make_primary(self, route_id, params):
        saved = {i: dict(row) for i, row in self.tables["address"].items()}
        status, body = original(self, route_id, params)
        if status != 200:
            self.tables["address"].update(saved)
        return status, body

    return make_primary


@pytest.mark.parametrize(
    ("divergence", "expected"),
    [
        ("labels-kept", {"2.28"}),
        ("unique-trimmed", {"2.6", "2.8"}),
        ("primaries-kept", {"2.69", "2.71"}),
        ("route-id", {"2.169", "2.170", "2.171"}),
        ("case-only-collation", {"2.5", "2.155", "2.157"}),
        ("sort-ties", {"2.156"}),
    ],
)
def test_replay_fails_when_the_sandbox_diverges(
    monkeypatch, divergence: str, expected: set
) -> None:
    from reconciler import collation
    from reconciler.sandbox import store

    if divergence == "labels-kept":
        monkeypatch.setattr(
            store.Store,
            "update_additional_info",
            _labels_kept_without_the_key(store.Store.update_additional_info),
        )
    elif divergence == "unique-trimmed":
        original = store.Store.create_label
        monkeypatch.setattr(
            store.Store,
            "create_label",
            lambda self, params: (
                original(self, {**params, "value": params["value"].strip()})
                if isinstance(params.get("value"), str)
                else original(self, params)
            ),
        )
    elif divergence == "primaries-kept":
        monkeypatch.setattr(
            store.Store, "make_primary", _primaries_kept_on_failure(store.Store.make_primary)
        )
    elif divergence == "route-id":
        monkeypatch.setattr(store, "_mysql_id", lambda v: int(v) if str(v).isdigit() else None)
    elif divergence == "case-only-collation":
        monkeypatch.setattr(collation, "sort_key", lambda text: text.rstrip(" ").lower())
    elif divergence == "sort-ties":
        key = store.Store._sort_key
        monkeypatch.setattr(
            store.Store,
            "_sort_key",
            staticmethod(lambda row, column: (key(row, column), row["id"])),
        )
    found = {n for n, *_ in replay_all()}
    assert expected <= found
