"""Customer labels: titles as the store tells them apart, and the store's catalog of labels.

FluentCart keeps labels in `fct_label` (`value` VARCHAR(192) UNIQUE, collation
utf8mb4_unicode_520_ci: `vip`, `VIP` and `Vïp` are one label) and a customer's labels as
relationship rows naming label ids (API-2.md A). fluentcart declares, records and plans a
customer's labels as a set of titles: `Labels`. The ids exist only where a request needs
them (`Catalog`).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from reconciler import collation


def key(title: str) -> str:
    """What the store compares of a title: its primary weights (case, accents and trailing
    spaces ignored)."""
    return collation.sort_key(title)


class Labels(tuple[str, ...]):
    """A customer's labels: one title per label as the store tells labels apart, in the
    table's order. Equal to any list or tuple of titles that names the same labels."""

    __slots__ = ()

    def __new__(cls, titles: Iterable[str] = ()) -> "Labels":
        unique: dict[str, str] = {}
        for title in titles:
            unique.setdefault(key(title), title)
        return super().__new__(cls, (unique[k] for k in sorted(unique)))

    def keys(self) -> frozenset[str]:
        return frozenset(map(key, self))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, list)) and all(isinstance(t, str) for t in other):
            return self.keys() == frozenset(map(key, other))
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash(self.keys())

    def without(self, other: "Labels | None") -> "Labels":
        """The labels of this set that `other` does not have."""
        theirs = other.keys() if other is not None else frozenset()
        return Labels(title for title in self if key(title) not in theirs)


def missing_label(label_id: int) -> str:
    """How a customer's relationship to a label id that has no label reads (the store keeps
    such rows: API-2.md A, #2.17)."""
    return f"(label {label_id}, which does not exist)"


MISSING_LABEL = re.compile(r"\(label [0-9]+, which does not exist\)")


def existing(titles: Iterable[str]) -> "Labels":
    """The titles of labels that exist: what a declared file can hold of a customer's labels
    (a relationship to a missing label is not one)."""
    return Labels(title for title in titles if not MISSING_LABEL.fullmatch(title))


@dataclass
class Catalog:
    """The store's labels (`GET /labels`): id -> title."""

    titles: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = {key(title): label_id for label_id, title in sorted(self.titles.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, str] | None) -> "Catalog | None":
        if data is None:
            return None
        return cls({int(label_id): title for label_id, title in data.items()})

    def to_json(self) -> dict[str, str]:
        return {str(label_id): title for label_id, title in sorted(self.titles.items())}

    def add(self, label_id: int, title: str) -> None:
        self.titles[label_id] = title
        self._ids.setdefault(key(title), label_id)

    def id_of(self, title: str) -> int | None:
        return self._ids.get(key(title))

    def title_of(self, label_id: int) -> str:
        return self.titles.get(label_id) or missing_label(label_id)

    def missing(self, titles: Iterable[str]) -> Labels:
        """The titles the store has no label for."""
        return Labels(title for title in titles if self.id_of(title) is None)
