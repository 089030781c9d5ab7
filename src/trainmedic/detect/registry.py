"""The detector registry: adding a detector is one new module with a decorated class.

    @register("hang")
    class HangDetector: ...

Tests build a fresh `Registry()`; production code uses the module-level `DETECTORS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Registry:
    """Name -> class (detectors here; the agent's collectors use one too). Names are unique;
    registering twice is a programming error."""

    def __init__(self, kind: str = "detector") -> None:
        self.kind = kind
        self._items: dict[str, type[Any]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def deco(cls: type[T]) -> type[T]:
            if name in self._items and self._items[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} registered twice ({self._items[name]!r} and {cls!r})")
            self._items[name] = cls
            return cls

        return deco

    def get(self, name: str) -> type[Any]:
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"no {self.kind} {name!r}; known: {', '.join(sorted(self._items))}") from None

    def names(self) -> list[str]:
        return sorted(self._items)


DETECTORS = Registry()
register = DETECTORS.register
