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


BUILT_IN = "optbench (built in)"
_loading: list[str] = []  # the plugins being loaded (optbench.plugins), innermost last


def origin_of(fn) -> str:
    """Where a definition whose compiled function is ``fn`` comes from: the
    plugin being loaded, else :data:`BUILT_IN` for optbench's own modules,
    else the function's module (``__main__`` for a script or a notebook)."""
    if _loading:
        return _loading[-1]
    module = getattr(getattr(fn, "py_func", fn), "__module__", None) or "__main__"
    return BUILT_IN if module == "optbench" or module.startswith("optbench.") else module


class Registry(Mapping):
    """Name -> definition, refusing duplicates; lookups suggest close names.

    Each definition remembers where it came from (:meth:`origin`): a
    definition registered again from the same place replaces the old one
    (a plugin file edited and loaded again, a notebook cell run again), from
    anywhere else it is refused."""

    def __init__(self, what: str):
        self._what = what
        self._items: dict[str, Any] = {}
        self._origins: dict[str, str] = {}

    def register(self, item, origin: str = BUILT_IN):
        old = self._origins.get(item.name)
        if old is not None and (old != origin or old == BUILT_IN):
            raise SpecError(f"{self._what} {item.name!r} is already registered by {old}; "
                            f"give the one from {origin} another name")
        self._items[item.name] = item
        self._origins[item.name] = origin
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)
        self._origins.pop(name, None)

    def origin(self, name: str) -> str:
        """Where ``name`` was registered: :data:`BUILT_IN`, a plugin's path or
        module name, or the module of its compiled function."""
        return self._origins[name]

    def from_origin(self, origin: str) -> list[str]:
        return [n for n, o in self._origins.items() if o == origin]

    def __getitem__(self, name):
        try:
            return self._items[name]
        except KeyError:
            raise SpecError(unknown_message(self._what, name, self._items)) from None

    def __iter__(self):
        return iter(sorted(self._items))

    def __len__(self):
        return len(self._items)
