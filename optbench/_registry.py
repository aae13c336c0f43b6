"""Name -> definition registries (objectives, optimizers) and the one-line
"unknown name" message that every lookup by name gives."""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ._errors import SpecError


def unknown_message(what: str, name: Any, known, n: int = 3) -> str:
    """``unknown optimizer 'adm'; did you mean 'adam'? known: adadelta, adagrad, ...``"""
    names = sorted(known)
    close = difflib.get_close_matches(str(name), names, n=n, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {what} {name!r}{hint} known: {', '.join(names)}"


class Registry(Mapping):
    """Name -> definition, refusing duplicates; lookups suggest close names."""

    def __init__(self, what: str):
        self._what = what
        self._items: dict[str, Any] = {}

    def register(self, item):
        if item.name in self._items:
            raise ValueError(f"{self._what} {item.name!r} is already registered")
        self._items[item.name] = item
        return item

    def __getitem__(self, name):
        try:
            return self._items[name]
        except KeyError:
            raise SpecError(unknown_message(self._what, name, self._items)) from None

    def __iter__(self):
        return iter(sorted(self._items))

    def __len__(self):
        return len(self._items)
