"""Files at the edges: the one input gate every file the tool reads goes through, and atomic writes.

Input gate (:func:`read_text`, :func:`parse_yaml`, :func:`load_yaml`, :func:`parse_json`, :func:`load_json`):

* a size cap (:data:`MAX_INPUT_BYTES`, ``$INFERONOMICS_MAX_INPUT_MB`` to change it), checked before reading;
* the file must be UTF-8 text; an unreadable file, a directory, a missing file or bad bytes become one
  message that names the file (:class:`InputFileError`, exit code 2 in the CLI);
* YAML is parsed with the C loader (``yaml.CSafeLoader``, the pure-Python ``SafeLoader`` only where PyYAML
  was built without libyaml) and checked as a node graph *before* anything is built from it: nesting
  deeper than :data:`MAX_DEPTH` levels, a document that refers to itself, or aliases that would expand
  to more than :data:`MAX_NODES` values (a "billion laughs" alias bomb) are refused without expanding
  anything;
* JSON: the same depth cap, ``NaN``/``Infinity`` refused (they are not JSON).

Output: :func:`write_text_atomic` writes through a temporary file and a rename (a crash never leaves a
half-written file) and turns OS errors into a message naming the output file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from inferonomics.errors import InferonomicsError, InputError

MAX_INPUT_BYTES = 16 * 1024 * 1024  # the largest built-in file is ~100 kB; a scenario or catalog is < 1 MB
MAX_DEPTH = 64  # nesting levels of a YAML/JSON document (real files use < 10)
MAX_NODES = 1_000_000  # values in a YAML document once its aliases are expanded
ENV_MAX_MB = "INFERONOMICS_MAX_INPUT_MB"


class InputFileError(InferonomicsError):
    """A file that cannot be read or parsed: the message names the file and what is wrong."""


def max_input_bytes() -> int:
    env = os.environ.get(ENV_MAX_MB)
    if env:
        try:
            mb = float(env)
        except ValueError:
            mb = float("nan")
        if not (0 < mb <= 1e6):
            raise InputError(ENV_MAX_MB, env, "must be a number of megabytes above 0 and at most 1e6")
        return int(mb * 1024 * 1024)
    return MAX_INPUT_BYTES


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:.3g} MB"


def read_bytes(path: str | os.PathLike, label: str | None = None, max_bytes: int | None = None) -> bytes:
    """The bytes of a file, at most ``max_bytes`` (default: :func:`max_input_bytes`)."""
    p = Path(path)
    label = label or str(p)
    cap = max_input_bytes() if max_bytes is None else max_bytes
    try:
        st = os.stat(p)
        if stat.S_ISDIR(st.st_mode):
            raise InputFileError(f"{label}: is a directory; give a file")
        if not stat.S_ISREG(st.st_mode):  # a pipe or a device would block or never end
            raise InputFileError(f"{label}: is not a regular file (a pipe, socket or device); give a file")
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > cap:
                raise InputFileError(f"{label}: is {_mb(size)}, larger than the {_mb(cap)} allowed for an input "
                                     f"file (set {ENV_MAX_MB} to raise the cap)")
            data = fh.read(cap + 1)
    except FileNotFoundError:
        raise InputFileError(f"{label}: does not exist") from None
    except PermissionError:
        raise InputFileError(f"{label}: cannot be read (permission denied)") from None
    except OSError as exc:
        raise InputFileError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > cap:  # a pipe or a file that grew while read
        raise InputFileError(f"{label}: is larger than the {_mb(cap)} allowed for an input file "
                             f"(set {ENV_MAX_MB} to raise the cap)")
    return data


def decode_text(data: bytes, label: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); bad bytes → a message with their offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputFileError(f"{label}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}, "
                             f"line {line}); save it as UTF-8") from None


def read_text(path: str | os.PathLike, label: str | None = None, max_bytes: int | None = None) -> str:
    """A UTF-8 text file through the gate (size cap, OS and encoding errors named)."""
    label = label or str(path)
    return decode_text(read_bytes(path, label, max_bytes), label)


# --- YAML ----------------------------------------------------------------------------------------------
_LOADER = None


def _loader_class():
    """The C safe loader (pure-Python fallback) with one change: a date-like scalar that is not a calendar
    date (``2024-13-45``) stays a string, so the field's validator names it, instead of failing the file."""
    global _LOADER
    if _LOADER is None:
        import yaml
        from yaml.constructor import SafeConstructor

        base = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

        class Loader(base):  # type: ignore[misc, valid-type]
            pass

        def timestamp(loader, node):
            try:
                return SafeConstructor.construct_yaml_timestamp(loader, node)
            except (ValueError, OverflowError):
                return loader.construct_scalar(node)

        Loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
        _LOADER = Loader
    return _LOADER


def _check_graph(root: Any, label: str) -> None:
    """Depth, cycles and expanded size of a YAML node graph, without expanding it (memoized per node)."""
    from yaml.nodes import CollectionNode, MappingNode

    def children(n):
        if isinstance(n, MappingNode):
            for k, v in n.value:
                yield k
                yield v
        elif isinstance(n, CollectionNode):
            yield from n.value

    size: dict[int, int] = {}  # id(node) -> expanded number of values
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, Any]] = [(root, None)]
    while stack:
        node, it = stack[-1]
        if it is None:
            if not isinstance(node, CollectionNode):
                size[id(node)], height[id(node)] = 1, 0
                stack.pop()
                continue
            on_path.add(id(node))
            if len(on_path) > MAX_DEPTH:
                line = node.start_mark.line + 1 if node.start_mark else "?"
                raise InputFileError(f"{label}: is nested more than {MAX_DEPTH} levels deep (line {line}); "
                                     "input files are flat mappings a few levels deep")
            it = children(node)
            stack[-1] = (node, it)
        child = next(it, None)
        if child is None:
            total, h = 1, 0
            for c in children(node):
                total += size[id(c)]
                h = max(h, height[id(c)] + 1)
            if total > MAX_NODES:
                raise InputFileError(f"{label}: its aliases (*name) expand to more than {MAX_NODES:,} values; "
                                     "refused (an alias bomb?)")
            size[id(node)], height[id(node)] = total, h
            on_path.discard(id(node))
            stack.pop()
        elif id(child) in on_path:
            line = child.start_mark.line + 1 if child.start_mark else "?"
            raise InputFileError(f"{label}: an alias refers to a value that contains it (line {line}); "
                                 "a document cannot contain itself")
        elif id(child) not in size:
            stack.append((child, None))


def parse_yaml(text: str, label: str) -> Any:
    """One YAML document (``None`` when empty), checked before it is built."""
    import yaml

    if len(text) > max_input_bytes():
        raise InputFileError(f"{label}: is larger than the {_mb(max_input_bytes())} allowed for an input file")
    loader = _loader_class()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node, label)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        msg = str(exc)
        if len(msg) > 600:
            msg = msg[:600] + " ..."
        raise InputFileError(f"{label}: not valid YAML: {msg}") from None
    except RecursionError:
        raise InputFileError(f"{label}: is nested too deeply to read") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar a constructor cannot build
        raise InputFileError(f"{label}: not valid YAML: {str(exc)[:300]}") from None
    finally:
        loader.dispose()


def load_yaml(path: str | os.PathLike, label: str | None = None) -> Any:
    label = label or str(path)
    return parse_yaml(read_text(path, label), label)


# --- JSON ----------------------------------------------------------------------------------------------
def _json_depth(obj: Any, label: str) -> None:
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (dict, list)):
            if d > MAX_DEPTH:
                raise InputFileError(f"{label}: is nested more than {MAX_DEPTH} levels deep")
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes, label: str) -> Any:
    """One JSON value; ``NaN``/``Infinity``, nesting deeper than :data:`MAX_DEPTH` and syntax errors refused."""
    import json

    if isinstance(text, bytes):
        text = decode_text(text, label)
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise InputFileError(f"{label}: is nested too deeply to read") from None
    except ValueError as exc:
        msg = str(exc)
        raise InputFileError(f"{label}: not valid JSON: {msg[:300]}") from None
    _json_depth(obj, label)
    return obj


def load_json(path: str | os.PathLike, label: str | None = None) -> Any:
    label = label or str(path)
    return parse_json(read_text(path, label), label)


# --- output --------------------------------------------------------------------------------------------
def check_output_path(path: str | os.PathLike, what: str = "output file") -> Path:
    """Refuse an output path that cannot be written (its directory missing, a file, not writable) before
    any work is done."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise InputError(what, str(p), "is a directory; give a file path")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        anc = next((a for a in parent.parents if a.exists()), None)
        if anc is not None and not anc.is_dir():
            raise InputError(what, str(p), f"{str(anc)!r} is a file, not a directory")
        raise InputError(what, str(p), f"its directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise InputError(what, str(p), f"{str(parent)!r} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(what, str(p), f"its directory {str(parent)!r} is not writable")
    return p


def check_output_dir(path: str | os.PathLike, what: str = "output directory") -> Path:
    """Refuse an output directory that cannot be created or written, before any work is done."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise InputError(what, str(p), "must be a directory (it is a file)")
        if not os.access(p, os.W_OK | os.X_OK):
            raise InputError(what, str(p), "is not writable")
        return p
    anc = next((a for a in p.absolute().parents if a.exists()), None)
    if anc is not None and not anc.is_dir():
        raise InputError(what, str(p), f"cannot be created: {str(anc)!r} is a file, not a directory")
    if anc is not None and not os.access(anc, os.W_OK | os.X_OK):
        raise InputError(what, str(p), f"cannot be created: {str(anc)!r} is not writable")
    return p


def write_text_atomic(path: str | os.PathLike, text: str, what: str = "output file") -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename (the old file survives a crash)."""
    p = check_output_path(path, what)
    parent = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=parent)
    except OSError as exc:
        raise InputError(what, str(p), f"cannot be written ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, p)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError(what, str(p), f"cannot be written ({exc.strerror or exc})") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p
