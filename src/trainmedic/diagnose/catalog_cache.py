"""The compiled fault catalog, kept on disk between runs: parsing 160+ YAML rules costs seconds, a
pickle of the compiled catalog costs milliseconds. Keyed by the rule files' bytes, so any change to
the rules rebuilds it; any problem with the cache falls back to `load_catalog()`.

Used by `trainmedic diagnose` (whose budget is a few seconds over 18,432 ranks).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from trainmedic.catalog import RULES_DIR, Catalog, load_catalog


def cache_dir() -> Path:
    """`$TRAINMEDIC_CACHE_DIR`, else `$XDG_CACHE_HOME/trainmedic`, else `~/.cache/trainmedic`."""
    env = os.environ.get("TRAINMEDIC_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trainmedic"


def _digest(rules_dir: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(rules_dir.glob("*.yaml")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:24]


def cached_catalog(rules_dir: Path = RULES_DIR, directory: Path | None = None) -> Catalog:
    """The packaged catalog, from the on-disk cache when the rules have not changed."""
    try:
        digest = _digest(rules_dir)
    except OSError:
        return load_catalog()
    where = (directory or cache_dir()) / f"catalog-{digest}.pickle"
    try:
        with open(where, "rb") as f:
            cat = pickle.load(f)
        if isinstance(cat, Catalog):
            return cat
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        pass
    cat = load_catalog()
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where.parent, prefix=".catalog-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(cat, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, where)
    except (OSError, pickle.PickleError, TypeError, AttributeError):
        pass  # a read-only home is fine: the next run parses the YAML again
    return cat
