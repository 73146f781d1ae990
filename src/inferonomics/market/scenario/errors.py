"""Scenario file errors: the exception and the formatter of pydantic errors (file, field path, value,
what is allowed, close field names)."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from inferonomics.errors import InferonomicsError, UnknownNameError
from inferonomics.market.scenario.models import ScenarioSpec


class ScenarioFileError(InferonomicsError):
    """A scenario file that cannot be read or fails validation; the message names file and field path."""


def loc_path(loc: tuple) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        elif str(p).startswith(("function-", "union[", "list[", "literal[")) or p in ("float", "str", "Spec"):
            continue
        else:
            out += ("." if out else "") + str(p)
    return out or "(top level)"


def format_validation(label: str, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        path = loc_path(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        m = re.match(r"^([A-Za-z_][\w.\[\]]*): (.*)$", msg, re.DOTALL)
        if path == "(top level)" and m:  # a check across fields names the field in its message
            path, msg = m.group(1), m.group(2)
        if e.get("type") == "extra_forbidden":
            parent = e["loc"][:-1]
            msg = "unknown field" + _field_hint(parent, e["loc"][-1])
        elif e.get("type") == "missing":
            msg = "missing (required)"
        got = e.get("input")
        show = ("input" in e and e.get("type") not in ("missing",) and not isinstance(got, (dict, list))
                and "got " not in msg)
        parts.append(f"field '{path}': {msg}" + (f" (got {got!r})" if show else ""))
    return f"{label}: " + "; ".join(parts[:6]) + (f"; and {len(parts) - 6} more" if len(parts) > 6 else "")


def _field_hint(parent: tuple, name: Any) -> str:
    """Known field names of the mapping that holds an unknown one."""
    model: Any = ScenarioSpec
    for p in parent:
        if isinstance(p, int) or model is None:
            continue
        fld = getattr(model, "model_fields", {}).get(p)
        if fld is None:  # a key of a mapping field (a tier or pool name): the value model stays
            continue
        model = _inner_model(fld.annotation)
    if model is None or not hasattr(model, "model_fields"):
        return ""
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(name), known, n=2, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{hint} allowed fields: {', '.join(known)}"


def _inner_model(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in typing.get_args(ann):
        m = _inner_model(a)
        if m is not None:
            return m
    return None


def _fail(label: str, where: str, msg: str | Exception) -> ScenarioFileError:
    """The error for a field; an :class:`InputError` from the catalog or perf engine keeps its message without
    its own field prefix (the scenario's field path replaces it)."""
    if isinstance(msg, UnknownNameError):
        msg = str(msg).split(": ", 1)[1]
    return ScenarioFileError(f"{label}: field '{where}': {msg}")
