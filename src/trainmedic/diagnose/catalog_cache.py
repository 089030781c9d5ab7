"""The compiled fault catalog, kept on disk between runs: parsing 160+ YAML rules costs seconds, a
pickle of the compiled catalog costs milliseconds. The pickle holds the matcher's Hyperscan database
as bytes too (compiling it again would cost a tenth of a second). Keyed by the rule files' bytes, the
matcher engine's version and the pickle's format, so a change to any of them rebuilds it; any problem with the cache falls
back to `load_catalog()` and writes the cache afresh.

Used by `trainmedic diagnose` (whose budget is a few seconds over 18,432 ranks).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from trainmedic.catalog import RULES_DIR, Catalog, load_catalog
from trainmedic.catalog.matcher import ENGINE_ID


def cache_dir() -> Path:
    """`$TRAINMEDIC_CACHE_DIR`, else `$XDG_CACHE_HOME/trainmedic`, else `~/.cache/trainmedic`."""
    env = os.environ.get("TRAINMEDIC_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trainmedic"


FORMAT = 2
"""Bump when the pickled classes change shape (2: patterns compile lazily, the prefilter travels along,
a checksum line heads the pickle)."""


def _digest(rules_dir: Path) -> str:
    h = hashlib.sha256(f"{FORMAT} {ENGINE_ID}".encode())
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
        cat = _read(where)
        # a matcher that had to compile its database (bytes from another CPU) is worth writing again
        if isinstance(cat, Catalog) and not cat.matcher.recompiled:
            return cat
    except Exception:  # damaged pickle bytes can raise nearly anything; the YAML files are the truth
        pass
    cat = load_catalog()
    _write(cat, where)
    return cat


_MAGIC = b"trainmedic-catalog sha256 "


def _read(where: Path) -> object:
    """The pickled object, or ValueError when the file's checksum does not match its bytes (a flipped
    byte in a rule's text would otherwise load as a quietly different catalog)."""
    with open(where, "rb") as f:
        data = f.read()
    head, _, payload = data.partition(b"\n")
    if not head.startswith(_MAGIC) or hashlib.sha256(payload).hexdigest().encode() != head[len(_MAGIC) :]:
        raise ValueError(f"{where}: not a catalog cache file, or a damaged one")
    return pickle.loads(payload)


def _write(cat: Catalog, where: Path) -> None:
    """Atomically: a run that reads while another writes sees the old file or the new, never half."""
    import tempfile

    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where.parent, prefix=".catalog-")
        try:
            payload = pickle.dumps(cat, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
            os.replace(tmp, where)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, pickle.PickleError, TypeError, AttributeError):
        pass  # a read-only home is fine: the next run parses the YAML again
