"""A content-addressed cache of parsed data files, so that a command does not re-parse the catalog's YAML.

An entry is the JSON form of a document that an earlier run parsed (and checked) from exactly the same text:
the key is a hash (BLAKE2b) of that text, so an edited file is a new key and a stale entry is never read.  JSON
holds no code (unlike a pickle), dates are tagged, and a document that does not survive the JSON round trip
unchanged is simply not cached.  Entries live in ``$INFERONOMICS_CACHE_DIR`` (default
``$XDG_CACHE_HOME/inferonomics`` or ``~/.cache/inferonomics``); ``INFERONOMICS_CACHE_DIR=off`` turns the
cache off.  Any failure to read or write the cache is ignored: the file is parsed as if there were none.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

ENV = "INFERONOMICS_CACHE_DIR"
_MISS = object()

try:  # the interpreter's own BLAKE2: importing hashlib loads OpenSSL, 2-10 ms of a command's start
    from _blake2 import blake2b as _blake2b
except ImportError:  # pragma: no cover (an interpreter without it)
    from hashlib import blake2b as _blake2b


def digest(data: bytes) -> str:
    """A content hash (256-bit BLAKE2b, hex) for cache keys."""
    return _blake2b(data, digest_size=32).hexdigest()


def cache_dir() -> Path | None:
    v = os.environ.get(ENV)
    if v is not None:
        return None if v.strip().lower() in ("", "off", "0", "none") else Path(v)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "inferonomics"


def _default(o: Any):
    if isinstance(o, _dt.datetime):
        return {"__datetime__": o.isoformat()}
    if isinstance(o, _dt.date):
        return {"__date__": o.isoformat()}
    raise TypeError(f"not JSON: {type(o).__name__}")


def _hook(d: dict):
    if len(d) == 1:
        if "__date__" in d:
            return _dt.date.fromisoformat(d["__date__"])
        if "__datetime__" in d:
            return _dt.datetime.fromisoformat(d["__datetime__"])
    return d


def _path(kind: str, text: str, version: str | None = "") -> Path | None:
    d = cache_dir()
    if d is None or version is None:
        return None
    key = f"{version}\0{text}" if version else text
    return d / kind / (digest(key.encode("utf-8", "surrogatepass")) + ".json")


def _hooked(hook):
    if hook is None:
        return _hook

    def both(d: dict):
        d = _hook(d)
        return hook(d) if isinstance(d, dict) else d

    return both


def get(kind: str, text: str, *, version: str | None = "", hook=None) -> Any:
    """The cached document parsed from ``text``, or ``_MISS``.  ``version`` names what else the parse depends
    on (part of the key; ``None``: not cached); ``hook`` builds objects from the JSON mappings (``json.loads``
    ``object_hook``)."""
    p = _path(kind, text, version)
    if p is None:
        return _MISS
    try:
        return json.loads(p.read_text(encoding="utf-8"), object_hook=_hooked(hook))
    except (OSError, ValueError):
        return _MISS


def put(kind: str, text: str, doc: Any, *, version: str | None = "") -> None:
    """Remember ``doc`` as the parse of ``text`` (only if it survives the JSON round trip unchanged)."""
    p = _path(kind, text, version)
    if p is None:
        return
    try:
        s = json.dumps(doc, default=_default, allow_nan=True)
        if json.loads(s, object_hook=_hook) != doc:  # int keys, tuples, sets...: not cached
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(s, encoding="utf-8")
        os.replace(tmp, p)
    except (OSError, TypeError, ValueError, RecursionError):
        return
    _prune(p.parent)


MAX_ENTRIES = 256  # per kind: entries of edited files (or of older code) are dropped, oldest first


def _prune(d: Path) -> None:
    try:
        entries = list(d.glob("*.json"))
        if len(entries) <= MAX_ENTRIES:
            return
        entries.sort(key=lambda e: e.stat().st_mtime)
        for e in entries[: len(entries) - MAX_ENTRIES]:
            e.unlink(missing_ok=True)
    except OSError:
        return


_CODE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".csv")
_CODE_DIGESTS: dict[tuple, str] = {}


def code_digest(packages: tuple[str, ...], *, scenarios: bool = False) -> str:
    """A digest of what a cached result computed by these ``inferonomics`` subpackages depends on: their source
    and data files (``scenarios`` folders only if ``scenarios``: a scenario's own content is usually part of the
    key already), and the catalog files :func:`inferonomics.catalog.get_catalog` reads (built-in and
    ``$INFERONOMICS_CATALOG_DIR``).  An edit to any is a new digest.  Once per process per argument set and
    user catalog directory (the package does not change under a running process)."""
    user = os.environ.get("INFERONOMICS_CATALOG_DIR") or None
    memo = (tuple(packages), scenarios, user)
    if memo in _CODE_DIGESTS:
        return _CODE_DIGESTS[memo]
    root = Path(__file__).resolve().parent
    files: list[Path] = []
    for pkg in packages:
        files += sorted(p for p in (root / pkg).rglob("*")
                        if p.is_file() and p.suffix in _CODE_SUFFIXES and "__pycache__" not in p.parts
                        and (scenarios or "scenarios" not in p.parts))
    files += sorted((root / "catalog" / "data").glob("*.yaml"))
    files += [root / "catalog" / "__init__.py", root / "catalog" / "schema.py"]
    if user:
        files += sorted(Path(user).glob("*.y*ml"))
    h = _blake2b(digest_size=32)
    for f in files:
        h.update(f.name.encode())
        try:
            h.update(f.read_bytes())
        except OSError:
            h.update(b"?")
    _CODE_DIGESTS[memo] = h.hexdigest()
    return _CODE_DIGESTS[memo]


def parsed(kind: str, text: str, parse, *, version: str | None = "", hook=None) -> Any:
    """``parse(text)``, from the cache when the same text was parsed before (by the same ``version`` of the
    parser).  With a ``hook``, a fresh parse goes through the same JSON form and hook as a cached one, so a
    hit and a miss give the same objects."""
    doc = get(kind, text, version=version, hook=hook)
    if doc is _MISS:
        doc = parse(text)
        put(kind, text, doc, version=version)
        if hook is not None:
            doc = json.loads(json.dumps(doc, default=_default, allow_nan=True), object_hook=_hooked(hook))
    return doc


__all__ = ["ENV", "cache_dir", "code_digest", "digest", "get", "parsed", "put"]
