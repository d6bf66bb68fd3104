"""The twin's cache folder: work that depends only on a file's content and a library's version (moto's parse of
a state machine, SAM's translation of template.yaml), kept between processes so that each `ferry local run`
and each test worker does not redo it."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

__all__ = ["cache_path", "read_cached", "write_cached"]


def cache_path(kind: str, *parts: str, suffix: str) -> Path:
    """Where the result for these inputs lives (a digest of every part, so any change is a new entry)."""
    digest = hashlib.sha256("\n\0".join(parts).encode()).hexdigest()
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aurora-ferry" / "twin"
    return folder / f"{kind}-{digest}{suffix}"


def read_cached(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write_cached(path: Path, content: bytes) -> None:
    """Write atomically; a cache that cannot be written is only slower, never an error."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(content)
        partial.replace(path)
