"""Reading scenario files: built-in names, YAML, ``base:`` inheritance (deep merge), validation."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inferonomics.errors import UnknownNameError
from inferonomics.market.scenario.errors import ScenarioFileError, format_validation
from inferonomics.market.scenario.leaves import Scenario, _finish
from inferonomics.market.scenario.models import ScenarioSpec

SCENARIO_PACKAGE = "inferonomics.market"
SCENARIO_DIR = "scenarios"


# --- loading -----------------------------------------------------------------------------------------
def builtin_names() -> list[str]:
    d = resources.files(SCENARIO_PACKAGE) / SCENARIO_DIR
    return sorted(p.name[:-5] for p in d.iterdir() if p.name.endswith(".yaml"))


def _builtin_text(name: str) -> str:
    return (resources.files(SCENARIO_PACKAGE) / SCENARIO_DIR / f"{name}.yaml").read_text(encoding="utf-8")


def _looks_like_path(s: str) -> bool:
    return s.endswith((".yaml", ".yml")) or os.sep in s or "/" in s


def _read(name_or_path: str, rel_to: Path | None = None) -> tuple[str, str, Path | None]:
    """(label, text, directory) of a built-in scenario or a file."""
    s = str(name_or_path)
    if not _looks_like_path(s) and s in builtin_names():
        return f"built-in scenario {s} ({s}.yaml)", _builtin_text(s), None
    p = Path(s)
    if rel_to is not None and not p.is_absolute():
        p = rel_to / p
    if p.is_dir():
        raise ScenarioFileError(f"{p}: is a directory; give a scenario file or a built-in name")
    if p.exists() or p.is_symlink():
        from inferonomics.io import InputFileError, read_text

        try:
            return str(p), read_text(p, str(p)), p.parent
        except InputFileError as exc:
            raise ScenarioFileError(str(exc)) from None
    if _looks_like_path(s) or p.exists():
        raise ScenarioFileError(
            f"scenario file {str(p)!r} does not exist (or is not a file); built-in scenarios are: "
            f"{', '.join(builtin_names())}"
        )
    raise UnknownNameError("scenario", s, builtin_names())


def _parse_yaml(label: str, text: str) -> dict:
    from inferonomics.io import InputFileError, parse_yaml

    try:
        doc = parse_yaml(text, label)
    except InputFileError as exc:
        raise ScenarioFileError(str(exc)) from None
    if not isinstance(doc, dict):
        raise ScenarioFileError(f"{label}: the top level must be a mapping (name, title, base_year, ...)")
    return doc


def _is_number_spec(v: Any) -> bool:
    return isinstance(v, dict) and ("value" in v or "dist" in v)


def merge(base: Any, over: Any) -> Any:
    """Deep merge of YAML documents: mappings merge, ``None`` removes a key, anything else replaces.  A numeric
    input given as a mapping (``value`` or ``dist``) replaces the base's input whole, never key by key."""
    if isinstance(base, dict) and isinstance(over, dict) and not _is_number_spec(over):
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


def _resolve(name_or_path: str, rel_to: Path | None, seen: tuple[str, ...]) -> tuple[dict, list[str]]:
    label, text, folder = _read(name_or_path, rel_to)
    if label in seen:
        raise ScenarioFileError(f"{label}: 'base' chain loops back to itself ({' -> '.join(seen + (label,))})")
    doc = _parse_yaml(label, text)
    base = doc.pop("base", None)
    if base is None:
        return doc, [label]
    if not isinstance(base, str):
        raise ScenarioFileError(f"{label}: field 'base': must be a scenario name or file path, got {base!r}")
    try:
        base_doc, chain = _resolve(base, folder, seen + (label,))
    except UnknownNameError as exc:
        raise ScenarioFileError(f"{label}: field 'base': {exc}") from None
    return merge(base_doc, doc), chain + [label]


def load_scenario(name_or_path: str | os.PathLike | ScenarioSpec | dict, *, catalog=None) -> Scenario:
    """Load a built-in scenario by name, a YAML file by path, or a mapping; validate; size tiers once."""
    from inferonomics.catalog import get_catalog

    cat = catalog or get_catalog()
    if isinstance(name_or_path, ScenarioSpec):
        return _finish(name_or_path.model_copy(deep=True), f"scenario {name_or_path.name}", [], cat)
    if isinstance(name_or_path, dict):
        doc, chain, label = dict(name_or_path), ["(mapping)"], "scenario mapping"
        if "base" in doc:
            base_doc, chain = _resolve(doc.pop("base"), None, ())
            doc = merge(base_doc, doc)
            chain = chain + ["(mapping)"]
    else:
        doc, chain = _resolve(str(name_or_path), None, ())
        label = chain[-1]
    if len(chain) > 1:
        label = f"{label} (with base {chain[-2].split(' (')[0]})"
    try:
        spec = ScenarioSpec.model_validate(doc)
    except ValidationError as exc:
        raise ScenarioFileError(format_validation(label, exc)) from None
    return _finish(spec, label, chain, cat)


def builtin_table():
    """Built-in scenarios: name, title, base, description."""
    import pandas as pd

    rows = []
    for n in builtin_names():
        doc = _parse_yaml(n, _builtin_text(n))
        rows.append({"name": n, "base": doc.get("base") or "", "title": doc.get("title", ""),
                     "description": re.sub(r"\s+", " ", str(doc.get("description", ""))).strip()})
    return pd.DataFrame(rows)
