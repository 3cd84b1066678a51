"""One registry idiom for everything cfjax looks up by name: explainers, models, datasets.

    EXPLAINERS = Registry("explainer")
    EXPLAINERS.register("knn", Knn)    # or as a decorator: @EXPLAINERS.register("knn")
    EXPLAINERS.get("knn")                              # the value; an unknown name is one line:
    # ValueError: unknown explainer 'knm'; choose one of accent, knn, ...

Each entry remembers the module that registered it (`origin`), so a package can check that
every one of its modules registers something. Imports nothing from cfjax.
"""

from __future__ import annotations

import sys
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
  """Values by name, registered once each.

  Attributes:
    kind: what the values are ("explainer", "model", "dataset"), used in error messages.
    error: the exception type of the one-line errors (a `ValueError` subclass).
  """

  def __init__(self, kind: str, error: type[ValueError] = ValueError):
    self.kind = kind
    self.error = error
    self._values: dict[str, T] = {}
    self._origins: dict[str, str | None] = {}

  def register(self, name: str, value: T | None = None, *, origin: str | None = None):
    """Adds `value` under `name`; without `value`, a decorator that adds what it decorates.

    `origin` is the registering module's name (default: the caller's module). Registering a
    taken name is a one-line error (pass another name, or `unregister` the old one first).
    """
    origin = origin or sys._getframe(1).f_globals.get("__name__")

    def add(value: T) -> T:
      if name in self._values:
        article = "an" if self.kind[:1] in "aeiou" else "a"
        raise self.error(f"{article} {self.kind} named {name!r} is already registered; pick "
                         "another name")
      self._values[name] = value
      self._origins[name] = origin
      return value

    return add if value is None else add(value)

  def unregister(self, name: str) -> None:
    """Removes `name` (no-op if absent): for tests that register a temporary entry."""
    self._values.pop(name, None)
    self._origins.pop(name, None)

  def get(self, name: str) -> T:
    """The value registered as `name`, or a one-line error naming the choices."""
    if name not in self._values:
      raise self.error(f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}")
    return self._values[name]

  def origin(self, name: str) -> str | None:
    """The module that registered `name`."""
    self.get(name)
    return self._origins[name]

  def names(self) -> tuple[str, ...]:
    """Every registered name, sorted."""
    return tuple(sorted(self._values))

  def items(self) -> tuple[tuple[str, T], ...]:
    """(name, value) pairs, sorted by name."""
    return tuple((name, self._values[name]) for name in self.names())

  def select(self, keep: Callable[[T], bool]) -> tuple[str, ...]:
    """The sorted names whose value satisfies `keep`."""
    return tuple(name for name, value in self.items() if keep(value))

  def __contains__(self, name: object) -> bool:
    return name in self._values

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())

  def __len__(self) -> int:
    return len(self._values)

  def __repr__(self) -> str:
    return f"Registry({self.kind!r}: {', '.join(self.names())})"


__all__ = ["Registry"]
