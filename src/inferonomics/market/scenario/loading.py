"""Reading scenario files: built-in names, YAML, ``base:`` inheritance (deep merge), validation."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import ValidationError

from inferonomics import files
from inferonomics.market.scenario.errors import ScenarioFileError, format_validation
from inferonomics.market.scenario.leaves import Scenario, _finish
from inferonomics.market.scenario.models import ScenarioSpec

SCENARIO_PACKAGE = "inferonomics.market"
SCENARIO_DIR = "scenarios"


# --- loading -----------------------------------------------------------------------------------------
#: Scenario files through the one loader (:mod:`inferonomics.files`).
KIND = files.FileKind("scenario", SCENARIO_PACKAGE, SCENARIO_DIR, ScenarioFileError,
                      top_level="(name, title, base_year, ...)")


def builtin_names() -> list[str]:
    return KIND.builtin_names()


def _builtin_text(name: str) -> str:
    return KIND.builtin_text(name)


_looks_like_path = files._looks_like_path
_is_number_spec = files._is_quantity
merge = files.merge


def _read(name_or_path: str, rel_to: Path | None = None) -> tuple[str, str, Path | None]:
    """(label, text, directory) of a built-in scenario or a file."""
    return KIND.read(name_or_path, rel_to)


def _parse_yaml(label: str, text: str) -> dict:
    return KIND.parse(label, text)


def _resolve(name_or_path: str, rel_to: Path | None, seen: tuple[str, ...]) -> tuple[dict, list[str]]:
    return KIND.resolve(name_or_path, rel_to, seen)


def load_scenario(name_or_path: str | os.PathLike | ScenarioSpec | dict, *, catalog=None) -> Scenario:
    """Load a built-in scenario by name, a YAML file by path, or a mapping; validate; size tiers once."""
    from inferonomics.catalog import get_catalog

    cat = catalog or get_catalog()
    if isinstance(name_or_path, ScenarioSpec):
        return _finish(name_or_path.model_copy(deep=True), f"scenario {name_or_path.name}", [], cat)
    doc, label, chain = KIND.load(name_or_path)
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
