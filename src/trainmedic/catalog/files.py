"""Where the packaged rule files live and the errors a rules file can have, at file:line.

Kept apart from `catalog.loader` so code that uses a compiled catalog (diagnose's cache) need not import
the loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RULES_DIR = Path(__file__).parent / "rules"


@dataclass(frozen=True, slots=True)
class CatalogError:
    """A problem in a rules file, at file:line."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class CatalogLoadError(Exception):
    """The catalog could not be loaded; `errors` lists every problem with file and line."""

    def __init__(self, errors: list[CatalogError]):
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(
            f"fault catalog has {len(errors)} error(s); run `trainmedic catalog check`:\n{lines}{more}"
        )
