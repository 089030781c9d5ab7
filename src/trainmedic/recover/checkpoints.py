"""Checkpoint discovery: the newest complete checkpoint in a directory, skipping corrupt ones.

Used by the launcher before each restart. A checkpoint is a file or directory whose name carries
its step (`ckpt_000020.pt`, `step-20/`). "Complete" means it passes the cheapest check its format
allows (a torch.save zip's central directory and CRCs, a safetensors header, a DCP `.metadata`) and
matches the size recorded when the job reported it saved.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "trainmedic-checkpoints.json"
SKIP_SUFFIXES = (".tmp", ".partial", ".corrupt", ".lock", ".json", ".log")
SKIP_NAMES = {"incidents", "logs", MANIFEST}
CRC_LIMIT_BYTES = 256 * 1024 * 1024
_STEP = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One checkpoint on disk; `step` is None when its name carries no number."""

    path: Path
    step: int | None
    mtime: float
    size_bytes: int


def list_checkpoints(root: Path) -> list[Checkpoint]:
    """Candidates in `root` (names with a step number), newest first (by step, then mtime)."""
    if not root.is_dir():
        return []
    out: list[Checkpoint] = []
    for p in root.iterdir():
        name = p.name
        if (
            name in SKIP_NAMES
            or name.startswith(".")
            or name.endswith(SKIP_SUFFIXES)
            or "tmp" in name.lower()
        ):
            continue
        try:
            st = p.stat()
        except OSError:
            continue
        size = st.st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        m = _STEP.search(name)
        if m is None:  # only names that carry a step: `config.yaml` or `latest.txt` are no checkpoints
            continue
        out.append(Checkpoint(p, int(m.group(1)), st.st_mtime, size))
    out.sort(key=lambda c: (c.step if c.step is not None else -1, c.mtime), reverse=True)
    return out


def load_manifest(root: Path) -> dict[str, dict[str, object]]:
    """name -> {step, size_bytes, saved_at} as recorded from the job's `checkpoint_saved` calls."""
    try:
        data = json.loads((root / MANIFEST).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def record_saved(root: Path, path: str, step: int, saved_at: float) -> None:
    """Add a checkpoint the job reported complete to the manifest (size taken now)."""
    p = Path(path)
    if not p.is_absolute():
        p = root / p
    try:
        size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    except OSError:
        return
    manifest = load_manifest(root)
    manifest[p.name] = {"step": step, "size_bytes": size, "saved_at": saved_at}
    tmp = root / (MANIFEST + ".tmp")
    try:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, root / MANIFEST)
    except OSError:
        pass


def problem(ckpt: Checkpoint, manifest: dict[str, dict[str, object]] | None = None) -> str | None:
    """Why `ckpt` is not a complete checkpoint, or None when it looks complete."""
    p = ckpt.path
    rec = (manifest or {}).get(p.name)
    if rec is not None and isinstance(rec.get("size_bytes"), int) and rec["size_bytes"] != ckpt.size_bytes:
        return f"size {ckpt.size_bytes} bytes differs from {rec['size_bytes']} recorded when it was saved"
    if p.is_dir():
        files = [f for f in p.rglob("*") if f.is_file()]
        if not files:
            return "empty directory"
        if any(f.name == ".metadata" for f in p.iterdir()) or rec is not None:
            return None
        return None if ckpt.size_bytes > 0 else "no data"
    if ckpt.size_bytes == 0:
        return "empty file"
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError as e:
        return f"unreadable: {e.strerror}"
    if head[:2] == b"PK" or zipfile.is_zipfile(p):
        return _zip_problem(p, ckpt.size_bytes)
    if p.suffix == ".safetensors":
        return _safetensors_problem(p, head, ckpt.size_bytes)
    return None


def _zip_problem(p: Path, size: int) -> str | None:
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
            if not names:
                return "zip archive with no members"
            if size <= CRC_LIMIT_BYTES:
                bad = z.testzip()
                if bad is not None:
                    return f"CRC mismatch in member {bad}"
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        return f"truncated or corrupt torch.save archive ({e})"
    return None


def _safetensors_problem(p: Path, head: bytes, size: int) -> str | None:
    if len(head) < 8:
        return "truncated safetensors header"
    (n,) = struct.unpack("<Q", head)
    if 8 + n > size:
        return "truncated safetensors header"
    try:
        with p.open("rb") as fh:
            fh.seek(8)
            header = json.loads(fh.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, OSError) as e:
        return f"corrupt safetensors header ({e})"
    return None if 8 + n + end <= size else "truncated safetensors data"


@dataclass(frozen=True, slots=True)
class Choice:
    """The checkpoint to resume from (None: start fresh) and the ones skipped, with why."""

    checkpoint: Checkpoint | None
    skipped: tuple[tuple[Checkpoint, str], ...] = ()


def newest_complete(root: Path) -> Choice:
    """The newest checkpoint that passes `problem`; newer broken ones are listed in `skipped`."""
    manifest = load_manifest(root)
    skipped: list[tuple[Checkpoint, str]] = []
    for c in list_checkpoints(root):
        why = problem(c, manifest)
        if why is None:
            return Choice(c, tuple(skipped))
        skipped.append((c, why))
    return Choice(None, tuple(skipped))


def quarantine(ckpt: Checkpoint) -> Path | None:
    """Rename a broken checkpoint to `<name>.corrupt` so scripts that scan the directory skip it."""
    target = ckpt.path.with_name(ckpt.path.name + ".corrupt")
    try:
        os.replace(ckpt.path, target)
    except OSError:
        return None
    return target
