"""One loader and one error formatter for the YAML files users write: provider scenarios, market files,
workloads and fleet scenarios (the catalog shares the formatter).

Loader (:class:`FileKind`): a built-in name (a ``.yaml`` file shipped in the package) or a path; the
text goes through the input gate of :mod:`inferonomics.io` (size cap, UTF-8, safe YAML); the top level
must be a mapping.  A file may name the file it changes with ``base:`` (or its synonym ``extends:``): a
built-in name or a path relative to the file; the chain is followed to its root (a file that comes back
to itself is an error that shows the cycle) and deep-merged (:func:`merge`).

Formatter (:func:`format_errors`, :func:`format_validation`): a pydantic ``ValidationError`` becomes
``FILE: field 'a.b[2].c': what is wrong (got VALUE)``, one part per field, at most six; an unknown field
gets the close matches and the allowed names of its mapping; a check across fields that names a field
first (``token_tiers.x.price_steps[0].year: ...``) is reported at that field.
"""

from __future__ import annotations

import difflib
import os
import re
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from inferonomics.errors import InferonomicsError, UnknownNameError

INHERIT_KEYS = ("base", "extends")


# --- merge ----------------------------------------------------------------------------------------------
def _is_quantity(v: Any) -> bool:
    return isinstance(v, dict) and ("value" in v or "dist" in v)


def merge(base: Any, over: Any) -> Any:
    """Deep merge of YAML documents: mappings merge, ``None`` removes a key, anything else replaces.  A numeric
    input given as a mapping (``value`` or ``dist``) replaces the base's input whole, never key by key."""
    if isinstance(base, dict) and isinstance(over, dict) and not _is_quantity(over):
        out = dict(base)
        for k, v in over.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v)
            else:
                out[k] = v
        return out
    return over


def _looks_like_path(s: str) -> bool:
    return s.endswith((".yaml", ".yml")) or os.sep in s or "/" in s


# --- loader ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileKind:
    """One kind of user file: where its built-ins live, how they are labelled, which error it raises."""

    noun: str  # "scenario", "market", "workload", "fleet scenario"
    package: str  # package holding the built-in files
    folder: str  # folder of the built-in files inside the package
    error: type[InferonomicsError]
    builtin_label: str = "built-in {noun} {name} ({name}.yaml)"
    top_level: str = ""  # what the top-level mapping holds, for the error message
    inherits: bool = True  # whether ``base:`` / ``extends:`` is allowed

    def builtin_names(self) -> list[str]:
        d = resources.files(self.package) / self.folder
        return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml"))

    def builtin_text(self, name: str) -> str:
        return (resources.files(self.package) / self.folder / f"{name}.yaml").read_text(encoding="utf-8")

    def read(self, name_or_path: str, rel_to: Path | None = None) -> tuple[str, str, Path | None]:
        """(label, text, directory) of a built-in file or a user file."""
        s = str(name_or_path)
        if not _looks_like_path(s) and s in self.builtin_names():
            return self.builtin_label.format(noun=self.noun, name=s), self.builtin_text(s), None
        p = Path(s)
        if rel_to is not None and not p.is_absolute():
            p = rel_to / p
        if p.is_dir():
            raise self.error(f"{p}: is a directory; give a {self.noun} file or a built-in name")
        if p.exists() or p.is_symlink():
            from inferonomics.io import InputFileError, read_text

            try:
                return str(p), read_text(p, str(p)), p.parent
            except InputFileError as exc:
                raise self.error(str(exc)) from None
        if _looks_like_path(s):
            raise self.error(f"{self.noun} file {str(p)!r} does not exist (or is not a file); built-in "
                             f"{self.noun}s are: {', '.join(self.builtin_names())}")
        raise UnknownNameError(self.noun, s, self.builtin_names())

    def parse(self, label: str, text: str) -> dict:
        from inferonomics.io import InputFileError, parse_yaml

        try:
            doc = parse_yaml(text, label)
        except InputFileError as exc:
            raise self.error(str(exc)) from None
        if not isinstance(doc, dict):
            raise self.error(f"{label}: the top level must be a mapping{' ' + self.top_level if self.top_level else ''}")
        return doc

    def _base_of(self, label: str, doc: dict) -> Any:
        keys = [k for k in INHERIT_KEYS if k in doc]
        if not keys:
            return None
        if not self.inherits:
            raise self.error(f"{label}: field '{keys[0]}': a {self.noun} file does not name a base file")
        if len(keys) > 1:
            raise self.error(f"{label}: give 'base' or 'extends', not both")
        return doc.pop(keys[0])

    def resolve(self, name_or_path: str, rel_to: Path | None = None,
                seen: tuple[str, ...] = ()) -> tuple[dict, list[str]]:
        """The document with its ``base`` chain merged in, and the chain of labels (root first)."""
        label, text, folder = self.read(name_or_path, rel_to)
        if label in seen:
            raise self.error(f"{label}: 'base' chain loops back to itself ({' -> '.join(seen + (label,))})")
        doc = self.parse(label, text)
        base = self._base_of(label, doc)
        if base is None:
            return doc, [label]
        if not isinstance(base, str):
            raise self.error(f"{label}: field 'base': must be a {self.noun} name or file path, got {base!r}")
        try:
            base_doc, chain = self.resolve(base, folder, seen + (label,))
        except UnknownNameError as exc:
            raise self.error(f"{label}: field 'base': {exc}") from None
        return merge(base_doc, doc), chain + [label]

    def load(self, source: str | os.PathLike | dict, label: str | None = None) -> tuple[dict, str, list[str]]:
        """(document, label for errors, chain) of a built-in name, a file or a mapping (which may name a base)."""
        if isinstance(source, dict):
            doc, chain, lab = dict(source), ["(mapping)"], label or f"{self.noun} mapping"
            base = self._base_of(lab, doc)
            if base is not None:
                base_doc, chain = self.resolve(str(base), None, ())
                doc = merge(base_doc, doc)
                chain = chain + ["(mapping)"]
        else:
            doc, chain = self.resolve(str(source), None, ())
            lab = chain[-1]
        if len(chain) > 1:
            lab = f"{lab} (with base {chain[-2].split(' (')[0]})"
        return doc, lab, chain


# --- error formatter --------------------------------------------------------------------------------------
_SKIP_LOC = ("function-", "union[", "list[", "literal[", "tagged-union[", "nullable[", "constrained-", "dict[",
             "(")  # "(number)", "(sourced)", "(distribution)": tags of discriminated unions
_TYPE_LOC = ("float", "int", "str", "bool", "Sourced", "Quantity", "Spec", "json-or-python[")
_FIELD_FIRST = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.DOTALL)


def loc_path(loc: tuple, top: str = "(record)") -> str:
    """A pydantic error location as the user wrote it (``slo.max_ttft_s``, ``peak_dense_tflops.fp8``,
    ``gpus_per_instance[2]``): validator and union-branch names left out."""
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
            continue
        s = str(p)
        if s.startswith(_SKIP_LOC) or s.startswith(_TYPE_LOC):
            continue
        out += ("." if out else "") + s
    return out or top


def _shown(v: Any) -> str:
    if v is None:
        return "an empty value"
    r = repr(v)
    return r if len(r) <= 120 else r[:117] + "..."


def _inner_model(ann: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in typing.get_args(ann):
        m = _inner_model(a)
        if m is not None:
            return m
    return None


def field_hint(model: Any, parent: tuple, name: Any) -> str:
    """Close matches and the known field names of the mapping (in ``model``) that holds an unknown one."""
    for p in parent:
        if isinstance(p, int) or model is None:
            continue
        fld = getattr(model, "model_fields", {}).get(p)
        if fld is None:  # a key of a mapping field (a tier or pool name), or a validator's name: the model stays
            continue
        model = _inner_model(fld.annotation)
    if model is None or not hasattr(model, "model_fields"):
        return ""
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(name), known, n=2, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{hint} allowed fields: {', '.join(known)}"


def format_errors(errors: list[dict], model: Any = None, top: str = "(record)") -> str:
    """pydantic errors as ``field 'path': what is wrong (got value)``, one per field.

    A bare-or-sourced number (``3.5`` or ``{value: 3.5, source: ..., date: ...}``) fails in both union
    branches; only the branch that matches what was written is shown.  With ``model``, an unknown field
    gets the close matches and the allowed field names."""
    by_path: dict[str, list[dict]] = {}
    for e in errors:
        by_path.setdefault(loc_path(e["loc"], top), []).append(e)
    # a mapping written where a bare-or-sourced number goes: its own errors (``x.value``) say what is wrong;
    # the bare-number branch's "should be a valid number" about the whole mapping adds nothing
    for path in list(by_path):
        if isinstance(by_path[path][0].get("input"), dict) and any(p.startswith(path + ".") for p in by_path):
            del by_path[path]
    parts = []
    for path, errs in by_path.items():
        if len(errs) > 1:
            inp = errs[0].get("input")
            in_model = [e for e in errs if any(str(p).startswith(("function-after", "Sourced", "Quantity"))
                                               for p in e["loc"])]
            other = [e for e in errs if e not in in_model]
            errs = (in_model if isinstance(inp, dict) else other) or errs
            if not isinstance(inp, dict) and in_model and other and not (
                isinstance(inp, (int, float)) and not isinstance(inp, bool)
            ):
                errs = [{**errs[0], "msg": "must be a number or a mapping {value: NUMBER, source: ..., date: ...}"}]
        e = errs[0]
        if "(number)" in e["loc"] and not isinstance(e.get("input"), (int, float)):
            # a discriminated number field given neither a number nor a mapping: say what forms it takes
            e = {**e, "msg": "must be a number, a mapping {value: NUMBER, source: ..., date: ...} or a "
                             "distribution {dist: ..., ...}"}
        msg = str(e["msg"]).removeprefix("Value error, ")
        m = _FIELD_FIRST.match(msg)
        if m and e.get("type") == "value_error":  # a check across fields names the field it is about
            path = m.group(1) if path == top else f"{path}.{m.group(1)}"
            msg = m.group(2)
        if e.get("type") == "extra_forbidden":
            msg = "unknown field" + (field_hint(model, e["loc"][:-1], e["loc"][-1]) if model is not None else "")
        elif e.get("type") == "missing":
            parts.append(f"field '{path}': missing (required)")
            continue
        if path == top:
            parts.append(msg)
            continue
        got = e.get("input")
        show = "input" in e and "got " not in msg and not isinstance(got, (dict, list))
        parts.append(f"field '{path}': {msg}" + (f" (got {_shown(got)})" if show else ""))
    return "; ".join(parts[:6]) + (f"; and {len(parts) - 6} more" if len(parts) > 6 else "")


def format_validation(label: str, err: Any, model: Any = None) -> str:
    """``FILE: field 'path': what is wrong (got value); ...`` for a pydantic ``ValidationError``."""
    return f"{label}: " + format_errors(err.errors(), model, top="(top level)")


__all__ = ["INHERIT_KEYS", "FileKind", "field_hint", "format_errors", "format_validation", "loc_path", "merge"]
