import io
import json
import stat
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import jsonschemas, statefile
from reconciler.customer import observed_value
from reconciler.errors import StateError
from reconciler.labels import Catalog
from reconciler.state import PLAN_FIELDS, CustomerRecord, StateFile, new_state, record_version
from reconciler.statefile import FORMAT_VERSION, parse, serialize
from reconciler.storage.file import (
    FileStorage,
    Journal,
    fold_journal,
    load_state,
    readable_by_others,
    save_state,
)
from reconciler.workspace import NameMode
from tests.conftest import EXAMPLES, make_state, observed


def test_round_trip_and_schema(tmp_path) -> None:
    path = tmp_path / "state.json"
    state = make_state([observed(2), observed(10, city="Paris")])
    assert save_state(path, state, None)
    loaded = load_state(path)
    assert loaded is not None
    assert loaded.customers == state.customers
    assert loaded.lineage == state.lineage and loaded.name_mode is NameMode.FULL_NAME
    assert not jsonschemas.iter_errors("state", json.loads(path.read_text()))


def test_serialization_is_canonical(tmp_path) -> None:
    a = make_state([observed(10), observed(9), observed(2)])
    b = make_state([observed(2), observed(9), observed(10)])
    assert serialize(a) == serialize(b)
    text = serialize(a).decode()
    # ids in numeric order, not text order ("10" < "9")
    assert text.index('"2": {') < text.index('"9": {') < text.index('"10": {')
    assert text.endswith("}\n")
    assert json.loads(text)["customers"]["10"]["observed"]["id"] == 10


def test_serial_moves_only_on_change(tmp_path) -> None:
    path = tmp_path / "state.json"
    first = new_state("https://shop.example", NameMode.FULL_NAME)
    first.customers[1] = CustomerRecord(observed(1), "2026-11-01T00:00:00+00:00", {})
    save_state(path, first, None)
    assert load_state(path).serial == 1
    same = load_state(path)
    again = load_state(path)
    assert not save_state(path, again, same)
    assert load_state(path).serial == 1
    changed = load_state(path)
    changed.customers[1].observed["city"] = "Lyon"
    assert save_state(path, changed, load_state(path))
    assert load_state(path).serial == 2


def test_a_working_copy_shares_records_and_persists_what_replaces_them(tmp_path) -> None:
    """recover() hands out a working copy that shares the stored state's records (no deep
    copy of 100,000 of them): a record is replaced, never changed, so the stored state
    still compares as it was read and the change is written."""
    path = tmp_path / "state.json"
    stored = new_state("https://shop.example", NameMode.FULL_NAME)
    stored.customers[1] = CustomerRecord(observed(1), "2026-11-01T00:00:00+00:00", {})
    stored.customers[2] = CustomerRecord(observed(2), "2026-11-01T00:00:00+00:00", {})
    stored.labels = Catalog({7: "VIP"})
    save_state(path, stored, None)
    on_disk, working, folded = FileStorage(path, "state.json").recover(new_state(None, None))
    assert on_disk is not None and folded == 0
    assert working.customers[1] is on_disk.customers[1]
    assert working.labels is not None and working.labels == on_disk.labels
    working.labels.add(8, "New")
    assert on_disk.labels is not None and 8 not in on_disk.labels.titles
    with pytest.raises(AttributeError):
        working.customers[1].observed_at = "2026-12-01T00:00:00+00:00"  # type: ignore[misc]
    working.customers[1] = CustomerRecord(
        {**observed(1), "city": "Lyon"}, "2026-12-01T00:00:00+00:00", {}
    )
    del working.customers[2]
    assert on_disk.customers[1].observed["city"] != "Lyon" and 2 in on_disk.customers
    assert save_state(path, working, on_disk)
    again = load_state(path)
    assert again.serial == 2 and sorted(again.customers) == [1]
    assert again.customers[1].observed["city"] == "Lyon"


def test_atomic_write_keeps_one_backup_with_private_modes(tmp_path) -> None:
    path = tmp_path / "state.json"
    state = make_state([observed(1)])
    save_state(path, state, None)
    first_bytes = path.read_bytes()
    updated = load_state(path)
    updated.customers[1].observed["city"] = "Oslo"
    save_state(path, updated, load_state(path))
    backup = tmp_path / "state.json.backup"
    assert backup.read_bytes() == first_bytes
    for file in (path, backup):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.backup"]


def test_existing_world_readable_state_becomes_private_on_write(tmp_path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(serialize(make_state([observed(1)])))
    path.chmod(0o644)
    assert readable_by_others(path)
    state = load_state(path)
    state.customers[1].observed["city"] = "Rome"
    save_state(path, state, load_state(path))
    assert not readable_by_others(path)


def test_missing_state_is_none(tmp_path) -> None:
    assert load_state(tmp_path / "nope.json") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b'{"format_version": 1,\n  "serial": }',
            "state.json:2:13: the state file is not valid JSON",
        ),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"format_version": 1}', "does not match schemas/state.schema.json"),
        (b"[]", "does not match"),
        (b'{"format_version": NaN}', "not valid JSON (NaN is not a JSON number)"),
        (b'{"format_version": 1e999}', "not valid JSON (the number 1e999 is out of range)"),
    ],
)
def test_broken_state_is_a_clear_error(tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateError) as info:
        load_state(path, "state.json")
    assert message in str(info.value)


def test_observed_values_in_declared_form() -> None:
    record = observed(5, user_id="2", postcode=None, first_name="Jean Luc", last_name="Picard")
    assert observed_value(record, "user_id") == 2
    assert observed_value(record, "postcode") == ""
    record.pop("full_name")
    assert observed_value(record, "full_name") == "Jean Luc Picard"


def test_example_state_is_canonical_and_valid() -> None:
    data = (EXAMPLES / "fluentcart.state.json").read_bytes()
    state = load_state(EXAMPLES / "fluentcart.state.json")
    assert serialize(state) == data


def test_record_version_is_the_same_from_a_full_or_a_slim_load(tmp_path: Path) -> None:
    customers = [observed(1, city="Lyon", aov="10.00"), observed(2)]
    path = tmp_path / "fluentcart.state.json"
    path.write_bytes(serialize(make_state(customers)))
    full, slim = load_state(path), load_state(path, slim=True)
    assert full is not None and slim is not None
    versions = {i: record_version(r) for i, r in full.customers.items()}
    assert versions == {i: record_version(r) for i, r in slim.customers.items()}
    assert versions[1] != versions[2]
    # What a plan reads moves the version; what it does not read (aov) does not.
    full.customers[1].observed["aov"] = "99.00"
    assert record_version(full.customers[1]) == versions[1]
    full.customers[1].observed["city"] = "Paris"
    assert record_version(full.customers[1]) != versions[1]
    full.customers[2].last_applied["city"] = "Bern"
    assert record_version(full.customers[2]) != versions[2]


def _git(root: Path, *args: str) -> None:
    import subprocess

    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
    )


def test_a_state_git_merged_from_two_runs_is_refused(tmp_path: Path) -> None:
    """Two clones applied from serial 1, each wrote serial 2 for other customers, and git
    merged the texts cleanly: a state neither run wrote."""
    path = tmp_path / "fluentcart.state.json"
    customers = [observed(i) for i in range(1, 40)]
    path.write_bytes(serialize(make_state(customers)))
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "serial 1")
    _git(tmp_path, "checkout", "-qb", "other")
    theirs = make_state(
        [observed(i, city="Oslo" if i == 38 else "") for i in range(1, 40)], serial=2
    )
    path.write_bytes(serialize(theirs))
    _git(tmp_path, "commit", "-qam", "their apply")
    _git(tmp_path, "checkout", "-q", "main")
    ours = make_state([observed(i, city="Lyon" if i == 2 else "") for i in range(1, 40)], serial=2)
    path.write_bytes(serialize(ours))
    _git(tmp_path, "commit", "-qam", "our apply")
    _git(tmp_path, "merge", "-q", "--no-edit", "other")
    text = path.read_text()
    assert '"city": "Lyon"' in text and '"city": "Oslo"' in text  # git merged both runs
    with pytest.raises(StateError, match="from two runs that each wrote serial 2"):
        load_state(path)
    # A run that takes one side (and a refresh after it) writes a state of its own again.
    _git(tmp_path, "checkout", "HEAD~1", "--", path.name)
    _git(tmp_path, "commit", "-qam", "take ours")
    assert load_state(path) is not None


def test_conflict_markers_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "fluentcart.state.json"
    text = serialize(make_state([observed(1)])).decode()
    path.write_text(
        text.replace(
            '"serial": 1',
            '<<<<<<< HEAD\n  "serial": 2,\n=======\n  "serial": 3,\n>>>>>>> other\n  "x": 1',
        )
    )
    with pytest.raises(StateError, match="git conflict markers"):
        load_state(path)


def test_a_large_state_file_names_the_postgresql_backend(tmp_path: Path) -> None:
    from reconciler.storage.file import LARGE_STATE_BYTES, FileStorage

    path = tmp_path / "fluentcart.state.json"
    path.write_bytes(serialize(make_state([observed(1)])))
    path.chmod(0o600)
    storage = FileStorage(path, path.name)
    assert storage.warnings() == []
    with path.open("r+b") as handle:
        handle.truncate(LARGE_STATE_BYTES + 1)  # sparse: only the size matters here
    (warning,) = storage.warnings()
    assert "52 MB" in warning and "postgresql://" in warning


def _reference_serialize(state: StateFile) -> bytes:
    """The state file's bytes as the standard library's indenting encoder writes them (what
    `serialize` wrote before it went through jsontext), customers in id order."""

    def ordered(value: object) -> object:
        if isinstance(value, dict):
            return {key: ordered(value[key]) for key in sorted(value)}
        if isinstance(value, list):
            return [ordered(item) for item in value]
        return value

    document = {
        "format_version": FORMAT_VERSION,
        "serial": state.serial,
        "tool_version": state.tool_version,
    }
    document |= state.content()
    customers = document.pop("customers")
    head = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    body = json.dumps(
        {cid: ordered(r) for cid, r in customers.items()}, indent=2, ensure_ascii=False
    )
    return (head[:-2] + ',\n  "customers": ' + body.replace("\n", "\n  ") + "\n}\n").encode()


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.integers(1, 10**6),
        st.tuples(
            st.dictionaries(_TEXT.filter(lambda key: key not in PLAN_FIELDS), _JSON, max_size=6),
            _TEXT,
            st.dictionaries(_TEXT, _TEXT | st.integers(), max_size=3),
        ),
        max_size=6,
    ),
    st.sampled_from([None, NameMode.FULL_NAME]),
    st.none() | st.dictionaries(st.integers(1, 10**6), _TEXT, max_size=3),
)
def test_serialize_writes_the_bytes_of_the_standard_encoder(customers, mode, labels) -> None:
    state = new_state("https://shop.example", mode)
    state.serial = 7
    state.labels = Catalog(labels) if labels is not None else None
    for cid, (extra, observed_at, applied) in customers.items():
        state.customers[cid] = CustomerRecord({**extra, "id": cid}, observed_at, applied)
    data = serialize(state)
    assert data == _reference_serialize(state)
    assert parse(data, "x").customers == state.customers


def test_serialize_writes_the_example_state_as_the_standard_encoder_does() -> None:
    data = (EXAMPLES / "fluentcart.state.json").read_bytes()
    assert _reference_serialize(parse(data, "x")) == data


_FIELD_VALUES = (
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(0, 2) | _TEXT | st.just([])
)
_RECORD = st.fixed_dictionaries(
    {
        "observed": st.dictionaries(
            st.sampled_from(sorted(PLAN_FIELDS | {"id", "aov", "user_id"})), _FIELD_VALUES
        )
        | _FIELD_VALUES,
        "observed_at": _FIELD_VALUES,
        "last_applied": st.dictionaries(_TEXT, _FIELD_VALUES, max_size=3) | _FIELD_VALUES,
    },
    optional={"extra": _FIELD_VALUES},
)


@settings(max_examples=600, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["1", "7", "01", "-1", "x", "\u0661", "10"]), _RECORD, max_size=3
    ),
    st.sampled_from([1, 2, "1", None]),
)
def test_the_fast_state_check_never_accepts_what_the_schema_refuses(customers, version) -> None:
    document = json.loads(serialize(make_state([observed(1)])))
    document["customers"] = customers
    document["format_version"] = version
    if statefile.surely_valid(document):
        assert not jsonschemas.iter_errors("state", document)


def test_the_fast_state_check_accepts_valid_states() -> None:
    data = serialize(make_state([observed(i) for i in range(1, 50)]))
    assert statefile.surely_valid(json.loads(data))
    assert statefile.surely_valid(json.loads((EXAMPLES / "fluentcart.state.json").read_bytes()))


def _parsed(data: bytes, fast: bool) -> StateFile | str:
    """A slim parse by the fast decoder (falling back as it does) or by the standard one
    alone; the message of the StateError it raises."""
    replacement = statefile._slim_state if fast else (lambda data: None)
    with patch.object(statefile, "_slim_state", replacement):
        try:
            return parse(data, "x.json", slim=True)
        except StateError as exc:
            return str(exc)


_HEAD_VALUES = st.sampled_from([None, 1, 3, "3", "x", [], {}, {"1": "VIP"}, {"x": 1}])


@settings(max_examples=600, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["1", "7", "01", "x", "10"]), _RECORD, max_size=3),
    st.dictionaries(
        st.sampled_from(["format_version", "serial", "site", "name_mode", "labels", "other"]),
        _HEAD_VALUES,
        max_size=2,
    ),
    st.sets(st.sampled_from(["lineage", "tool_version", "customers"]), max_size=1),
)
def test_the_fast_slim_read_gives_what_the_standard_decoder_gives(customers, head, dropped):
    """Valid or not: the same state, or the same message naming what is wrong."""
    document = json.loads(serialize(make_state([observed(1)])))
    document["customers"] = customers
    document.update(head)
    for key in dropped:
        del document[key]
    data = json.dumps(document).encode("utf-8")
    assert _parsed(data, fast=True) == _parsed(data, fast=False)


@pytest.mark.parametrize(
    "data",
    [
        b'{"customers": {"1": ',  # cut short
        b"\xff\xfe",  # not UTF-8
        b'{"customers": {"1": {"observed": {"id": 1, "city": "\\ud800"}}}}',  # lone surrogate
        b'{"customers": NaN}',
        b'{"serial": 1e400, "customers": {}}',
        b"[]",
    ],
)
def test_the_fast_slim_read_leaves_what_it_refuses_to_the_standard_decoder(data) -> None:
    assert _parsed(data, fast=True) == _parsed(data, fast=False)


def test_the_fast_slim_read_keeps_only_what_plans_compare(tmp_path: Path) -> None:
    state = make_state([observed(i, aov="9.99", labels=["VIP"]) for i in range(1, 30)])
    data = serialize(state)
    assert statefile._slim_state(data) is not None  # read by the fast decoder
    slim = parse(data, "x", slim=True)
    assert slim == _parsed(data, fast=False)
    assert slim.customers[3].observed == {
        k: v for k, v in state.customers[3].observed.items() if k in PLAN_FIELDS
    }
    assert "aov" not in slim.customers[3].observed


def test_the_schema_types_no_observed_field_a_slim_read_skips() -> None:
    """A slim read builds only PLAN_FIELDS of each observed customer and skips the rest
    unchecked: sound only while the schema types nothing else there."""
    observed = jsonschemas.load_schema("state")["$defs"]["record"]["properties"]["observed"]
    assert set(observed["properties"]) <= PLAN_FIELDS


def test_a_slim_record_reads_as_a_mapping_of_what_it_has() -> None:
    state = make_state([observed(1, city="Lyon", labels=["VIP"])])
    record = parse(serialize(state), "x", slim=True).customers[1].observed
    assert record["city"] == "Lyon" and record.get("city") == "Lyon"
    assert "addresses" not in record and record.get("addresses") is None
    assert "aov" not in record and record.get("aov", 5) == 5
    assert dict(record) == {
        k: v for k, v in state.customers[1].observed.items() if k in PLAN_FIELDS
    }
    assert record == dict(record) and dict(record) == record
    with pytest.raises(KeyError):
        record["addresses"]
    with pytest.raises((AttributeError, TypeError)):
        record.city = "Paris"  # type: ignore[misc]


def _streamed(data: bytes, chunk: int) -> StateFile | None:
    with patch.object(statefile, "_STREAM_CHUNK", chunk):
        return statefile.parse_streamed(io.BytesIO(data))


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.integers(1, 10**6),
        st.tuples(
            st.dictionaries(st.sampled_from(sorted(PLAN_FIELDS - {"id", "addresses"})), _TEXT),
            st.dictionaries(_TEXT, _TEXT | st.integers(), max_size=2),
        ),
        max_size=8,
    ),
    st.none() | st.dictionaries(st.integers(1, 10**6), _TEXT, max_size=3),
    st.sampled_from([1, 2, 3, 17, 64, 4096, 8 * 1024 * 1024]),
)
def test_a_streamed_read_gives_what_the_whole_read_gives(customers, labels, chunk) -> None:
    """At any chunk size (the boundaries falling anywhere, in an id, a string, a record)."""
    state = new_state("https://shop.example", NameMode.FULL_NAME)
    state.labels = Catalog(labels) if labels is not None else None
    for cid, (fields, applied) in customers.items():
        fields.pop("labels", None)
        state.customers[cid] = CustomerRecord({**fields, "id": cid}, "2026-12-03", applied)
    data = serialize(state)
    streamed = _streamed(data, chunk)
    if not customers:
        assert streamed is None  # `"customers": {}`: read whole
        return
    assert streamed is not None
    assert streamed == parse(data, "x", slim=True)
    assert streamed.sha256 == parse(data, "x").sha256


@pytest.mark.parametrize("chunk", [5, 100, 8 * 1024 * 1024])
def test_what_a_streamed_read_does_not_take_is_read_whole(tmp_path: Path, chunk) -> None:
    data = serialize(make_state([observed(i) for i in range(1, 40)]))
    document = json.loads(data)
    assert _streamed(data, chunk) is not None
    others = {
        "compact": json.dumps(document).encode(),
        "indented by 4": json.dumps(document, indent=4).encode(),
        "cut short": data[:-20],
        "a record out of place": data.replace(b'"observed_at": "', b'"observed_at": 5, "x": "'),
        "an id that is not one": data.replace(b'\n    "7": {', b'\n    "07": {'),
        "text after the end": data + b"{}",
        "conflict markers": data.replace(b'\n    "7": {', b'\n<<<<<<< HEAD\n    "7": {', 1),
    }
    path = tmp_path / "fluentcart.state.json"
    for name, other in others.items():
        assert _streamed(other, chunk) is None, name
        path.write_bytes(other)
        try:
            expected: object = parse(other, str(path), slim=True)
        except StateError as exc:
            expected = str(exc)
        with patch.object(statefile, "_STREAM_CHUNK", chunk):
            try:
                got: object = load_state(path, slim=True)
            except StateError as exc:
                got = str(exc)
        if name == "conflict markers":
            assert "git conflict markers" in str(got)
        else:
            assert got == expected, name


def test_the_journal_keeps_records_holding_unicode_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "fluentcart.state.json"
    odd = "a\x85b\u2028c\u2029d\x1ce\x0bf\x0cg"
    journal = Journal(path)
    journal.record(1, CustomerRecord({**observed(1), "city": odd}, "2026-12-02T00:00:00+00:00"))
    journal.close()
    state = make_state([observed(1)])
    assert fold_journal(state, path) == 1
    assert state.customers[1].observed["city"] == odd


def test_a_folded_journal_shares_keys_and_unchanged_values(tmp_path: Path) -> None:
    """Memory of a large apply (issue 16): the journal is folded a batch of lines at a time,
    so that its records share their keys' strings, and each record shares the values it has
    in common with the record it replaces; a torn last line is still left out."""
    from reconciler.storage import file

    path = tmp_path / "fluentcart.state.json"
    state = make_state([observed(i, city="Lyon") for i in range(1, 8)])
    before = dict(state.customers)
    journal = Journal(path)
    for i in range(1, 8):
        record = CustomerRecord({**observed(i), "city": "Paris"}, "2026-12-02T00:00:00+00:00")
        journal.record(i, record)
    journal.close()
    with file.journal_path(path).open("ab") as handle:
        handle.write(b'{"id": 99, "observed": {"id": 99, "ci')  # a crash mid-line
    with patch.object(file, "_FOLD_BATCH", 3):  # batches of 3, 3 and 1 + the torn line
        assert fold_journal(state, path) == 7
    assert sorted(state.customers) == list(range(1, 8))
    records = [state.customers[i] for i in range(1, 8)]
    for record, old in zip(records, (before[i] for i in range(1, 8)), strict=True):
        assert record.observed == {**old.observed, "city": "Paris"}
        assert record.observed["email"] is old.observed["email"]  # unchanged: one string
        assert record.observed["city"] is not old.observed["city"]
        assert all(a is b for a, b in zip(record.observed, records[0].observed, strict=True))
        assert record.observed_at is records[0].observed_at


def test_a_journal_keeps_what_its_lines_hold_and_persist_takes_it_from_memory(
    tmp_path: Path,
) -> None:
    """An apply persists the records its journal kept (issue 16: reading 100,000 lines back
    took 2.6 s at the end of the run): the same records a fold of its lines gives, the
    latest of a customer recorded twice, sharing unchanged values with the records read."""
    from reconciler.storage import file

    path = tmp_path / "fluentcart.state.json"
    stored = make_state([observed(i, city="Lyon") for i in range(1, 6)])
    save_state(path, stored, None)
    storage = FileStorage(path, "fluentcart.state.json")
    on_disk, working, _ = storage.recover(new_state(None, None))
    assert on_disk is not None
    journal = storage.recorder(4)
    at = "2026-12-03T00:00:00+00:00"
    for i in (1, 2, 3, 2):
        city = "Basel" if i == 2 and 2 in journal.recorded else "Paris"
        journal.record(i, CustomerRecord({**observed(i), "city": city}, at, {"city": city}))
    journal.record(9, CustomerRecord({"id": 9, "email": "new@example.com"}, at, {}))
    journal.close()
    folded = on_disk.working_copy()
    assert fold_journal(folded, path) == 5
    assert journal.recorded == {i: folded.customers[i] for i in (1, 2, 3, 9)}
    assert journal.recorded[2].observed["city"] == "Basel"
    kept = journal.recorded[1].observed
    assert kept["email"] is on_disk.customers[1].observed["email"]
    with patch.object(file, "fold_journal", side_effect=AssertionError("read back")):
        assert storage.persist(working, on_disk)
    assert not file.journal_path(path).exists()
    again = load_state(path)
    assert again.customers == folded.customers and again.serial == on_disk.serial + 1


def test_sharing_values_swaps_only_equal_values_of_one_type() -> None:
    from reconciler.state import sharing_values

    earlier = CustomerRecord({"a": 1, "b": "x" * 40, "c": [1, 2], "d": True, "e": 2.0}, "t")
    fresh = {"a": True, "b": "".join(["x"] * 40), "c": [1, 2], "d": 1, "e": 2, "f": "new"}
    shared = sharing_values(CustomerRecord(fresh, "t"), earlier)
    assert shared.observed == fresh
    assert [type(v) for v in shared.observed.values()] == [bool, str, list, int, int, str]
    assert shared.observed["b"] is earlier.observed["b"]
    assert shared.observed["c"] is earlier.observed["c"]
    assert shared.observed["a"] is True and shared.observed["d"] == 1
    alone = sharing_values(CustomerRecord({"".join(["ke", "y"]): 1}, "t"), None)
    assert next(iter(alone.observed)) is "key"  # noqa: F632 (interned: one string)


def test_sharing_values_shares_inside_a_mapping_that_changed() -> None:
    from reconciler.state import sharing_values

    place = {"city": "Lyon", "country": "FR", "line": "x" * 30}
    earlier = CustomerRecord({"formatted_address": place}, "t")
    fresh = {"formatted_address": {"city": "Paris", "country": "FR", "line": "".join(["x"] * 30)}}
    shared = sharing_values(CustomerRecord(fresh, "t"), earlier).observed["formatted_address"]
    assert shared == fresh["formatted_address"] and shared is not place
    assert shared["line"] is place["line"] and shared["city"] == "Paris"


def test_journal_lines_are_written_before_record_returns_and_synced_in_groups(
    tmp_path: Path, monkeypatch
) -> None:
    """Each line is in the file when its record returns (a killed process loses nothing),
    and the syncer fsyncs what was written, every line written by then in one call: no
    worker waits for the disk (here, all 80 records return while the first fsync is held
    up), and once close returns, every line was synced."""
    import os
    import threading

    path = tmp_path / "fluentcart.state.json"
    journal = Journal(path)
    ends: dict[int, int] = {}
    synced: list[int] = []
    real_write, real_fsync = os.write, os.fsync

    def write(fd: int, data: bytes) -> int:
        written = real_write(fd, data)
        ends[json.loads(data)["id"]] = os.fstat(fd).st_size
        return written

    disk = threading.Event()  # set: the disk answers

    def fsync(fd: int) -> None:
        size = os.fstat(fd).st_size
        assert disk.wait(10)
        real_fsync(fd)
        synced.append(size)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fsync", fsync)
    returned: dict[int, int] = {}

    def worker(first: int) -> None:
        for i in range(first, first + 10):
            journal.record(i, CustomerRecord(observed(i), "2026-12-03T00:00:00+00:00"))
            returned[i] = file_size(path)

    def file_size(journal_file: Path) -> int:
        from reconciler.storage.file import journal_path

        return journal_path(journal_file).stat().st_size

    threads = [threading.Thread(target=worker, args=(1 + 10 * n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(returned) == list(range(1, 81)) and not synced  # none waited for the disk
    assert all(returned[i] >= ends[i] for i in returned)  # its line was written
    disk.set()
    journal.close()
    assert 0 < len(synced) <= 3  # the one held up, then one for all the lines after it
    assert max(synced) == file_size(path)  # the last lines too, by the time close returned
    state = make_state([])
    assert fold_journal(state, path) == 80


def test_a_journal_that_cannot_be_synced_stops_the_run(tmp_path: Path, monkeypatch) -> None:
    """An fsync that fails (EIO): the next record raises, naming the customer and why, and
    writes nothing; close raises too, so the run does not end as if all were on disk."""
    import errno
    import os
    import time

    path = tmp_path / "fluentcart.state.json"
    journal = Journal(path)

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", fsync)
    journal.record(1, CustomerRecord(observed(1), "2026-12-03T00:00:00+00:00"))
    deadline = time.monotonic() + 5
    while journal._failure is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(StateError, match=r"cannot record customer 2 .*cannot sync it to disk"):
        journal.record(2, CustomerRecord(observed(2), "2026-12-03T00:00:00+00:00"))
    assert list(journal.recorded) == [1]
    with pytest.raises(StateError, match="Input/output error"):
        journal.close()


_EDITS = (
    "none",
    "equal copy",
    "observed",
    "observed_at",
    "last_applied",
    "added",
    "removed",
    "labels",
    "no labels",
    "name mode",
    "site",
    "lineage",
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.integers(1, 50),
        st.tuples(st.dictionaries(_TEXT, _JSON, max_size=4), _TEXT, st.dictionaries(_TEXT, _TEXT)),
        max_size=5,
    ),
    st.none() | st.dictionaries(st.integers(1, 9), _TEXT, max_size=2),
    st.sampled_from(_EDITS),
    st.data(),
)
def test_same_content_says_what_comparing_the_contents_says(customers, labels, edit, data) -> None:
    """save_state writes, and refresh asks, only when the content moved: same_content must
    agree with building both contents and comparing them, for every kind of difference
    (and for equal records that are not the same objects)."""
    state = new_state("https://shop.example", NameMode.FULL_NAME)
    state.labels = Catalog(labels) if labels is not None else None
    for cid, (extra, observed_at, applied) in customers.items():
        state.customers[cid] = CustomerRecord({**extra, "id": cid}, observed_at, applied)
    other = state.working_copy()
    ids = sorted(other.customers)
    picked = data.draw(st.sampled_from(ids)) if ids else None
    record = other.customers.get(picked) if picked is not None else None
    if edit == "equal copy" and record is not None:
        other.customers[picked] = CustomerRecord(
            json.loads(json.dumps(record.observed)), record.observed_at, dict(record.last_applied)
        )
    elif edit == "observed" and record is not None:
        other.customers[picked] = CustomerRecord(
            {**record.observed, "city": data.draw(_TEXT)}, record.observed_at, record.last_applied
        )
    elif edit == "observed_at" and record is not None:
        other.customers[picked] = CustomerRecord(
            record.observed, data.draw(_TEXT), record.last_applied
        )
    elif edit == "last_applied" and record is not None:
        other.customers[picked] = CustomerRecord(
            record.observed, record.observed_at, {**record.last_applied, "city": "x"}
        )
    elif edit == "added":
        other.customers[99] = CustomerRecord({"id": 99}, "2026-12-03T00:00:00+00:00", {})
    elif edit == "removed" and picked is not None:
        del other.customers[picked]
    elif edit == "labels":
        other.labels = Catalog({**(labels or {}), 10: data.draw(_TEXT)})
    elif edit == "no labels":
        other.labels = None
    elif edit == "name mode":
        other.name_mode = data.draw(st.sampled_from([None, *NameMode]))
    elif edit == "site":
        other.site = data.draw(st.none() | _TEXT)
    elif edit == "lineage":
        other.lineage = data.draw(_TEXT)
    expected = state.content() == other.content()
    assert state.same_content(other) is expected
    assert other.same_content(state) is expected
