"""File output at the edges: atomic writes, so a crash never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from inferonomics.errors import InputError


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename (the old file survives a crash)."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise InputError("output file", str(p), "is a directory; give a file path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise InputError("output file", str(p), f"its directory {str(parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p
