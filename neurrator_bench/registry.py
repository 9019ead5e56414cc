"""One generic registry for tasks, metrics, model kinds and baselines.

Duplicate names raise, unknown names raise ``KeyError`` with near matches and the full list,
and nothing is ever overwritten silently.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A named mapping of ``name -> T`` that refuses duplicates.

    Args:
        kind: What the registry holds ("task", "metric", ...); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._frozen = False

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``.

        Raises:
            ValueError: If ``name`` is already registered or the registry is frozen.
        """
        if self._frozen:
            raise ValueError(f"{self.kind} registry is frozen; cannot add {name!r}")
        if name in self._items:
            raise ValueError(
                f"duplicate {self.kind} name {name!r}: already registered as {self._items[name]!r}, refusing {item!r}"
            )
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorator(item: T) -> T:
            return self.add(name, item)

        return decorator

    def get(self, name: str) -> T:
        """Return the item registered as ``name``.

        Raises:
            KeyError: If unknown; the message lists near matches and every registered name.
        """
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}.{hint} Registered {self.kind}s: {', '.join(sorted(self._items))}"
            ) from None

    def freeze(self) -> None:
        """Refuse any further registration."""
        self._frozen = True

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def in_order(self) -> list[str]:
        """Registered names in registration order (how tables list metrics: the registry decides)."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
