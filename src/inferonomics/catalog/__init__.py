"""The catalog: accelerators, models, regions, FX rates and the performance model's efficiency factors.

Built-in records live in ``catalog/data/*.yaml``.  User files (``*.yaml`` in a directory given by
``--catalog-dir`` or the ``INFERONOMICS_CATALOG_DIR`` environment variable) add records or override
built-in ones with the same slug.  Every record is validated on load; an error names the file, the
entry and the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from inferonomics.catalog.schema import (
    Accelerator,
    ApiPrice,
    Constant,
    EfficiencyFamily,
    EngineProfile,
    FxRate,
    Model,
    Region,
    Sourced,
)
from inferonomics.errors import CatalogFileError, UnknownNameError

# the one error formatter of every user file (:mod:`inferonomics.files`); names kept for existing imports
from inferonomics.files import _shown, format_errors, loc_path  # noqa: F401

ENV_DIR = "INFERONOMICS_CATALOG_DIR"

_SECTIONS: dict[str, tuple[type, str]] = {
    "accelerators": (Accelerator, "slug"),
    "models": (Model, "slug"),
    "regions": (Region, "slug"),
    "fx": (FxRate, "currency"),
    "efficiency": (EfficiencyFamily, "family"),
    "constants": (Constant, "name"),
    "api_prices": (ApiPrice, "key"),
    "engines": (EngineProfile, "engine"),
}

KINDS = ("accelerators", "models", "regions")

__all__ = [
    "Catalog",
    "load_catalog",
    "get_catalog",
    "Accelerator",
    "Model",
    "Region",
    "Sourced",
    "CatalogFileError",
]


@dataclass(frozen=True)
class Catalog:
    accelerators: dict[str, Accelerator] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    regions: dict[str, Region] = field(default_factory=dict)
    fx: dict[str, FxRate] = field(default_factory=dict)
    efficiency: dict[str, EfficiencyFamily] = field(default_factory=dict)
    constants: dict[str, Constant] = field(default_factory=dict)
    api_prices: dict[str, ApiPrice] = field(default_factory=dict)  # key: provider/model/market/date[/tier]
    engines: dict[str, EngineProfile] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # "kind:slug" -> file it came from

    def accelerator(self, slug: str, field_name: str = "gpu") -> Accelerator:
        return _get(self.accelerators, slug, field_name)

    def model(self, slug: str, field_name: str = "model") -> Model:
        return _get(self.models, slug, field_name)

    def region(self, slug: str, field_name: str = "region") -> Region:
        return _get(self.regions, slug, field_name)

    def usd_per(self, currency: str) -> float:
        if currency.upper() == "USD":
            return 1.0
        return _get(self.fx, currency.upper(), "currency").usd_per_unit.value

    def const(self, name: str) -> float:
        return _get(self.constants, name, "constant").value

    def efficiency_for(self, family: str) -> EfficiencyFamily:
        if family in self.efficiency:
            return self.efficiency[family]
        if "default" in self.efficiency:
            return self.efficiency["default"]
        raise UnknownNameError("efficiency family", family, self.efficiency)

    def engine_profile(self, engine: str) -> EngineProfile | None:
        """The fitted profile of a serving engine; ``None`` for ``generic`` (the shared fit)."""
        if engine == "generic":
            return None
        return self.engines.get(engine)

    def find(self, slug: str) -> tuple[str, Any]:
        """Look a slug up in every kind; for ``catalog show``."""
        for kind in KINDS:
            table = getattr(self, kind)
            if slug in table:
                return kind, table[slug]
        raise UnknownNameError("slug", slug, [s for k in KINDS for s in getattr(self, k)])


def _get(table: dict[str, Any], slug: str, field_name: str) -> Any:
    try:
        return table[slug]
    except KeyError:
        raise UnknownNameError(field_name, slug, table) from None


def _format_pydantic(err: Any) -> str:
    return format_errors(err.errors())


def _load_file(path: str, text: str, out: dict[str, dict[str, Any]], origin: dict[str, str]) -> None:
    from pydantic import ValidationError

    from inferonomics.io import InputFileError, parse_yaml

    from inferonomics import _cache

    try:  # the same text parsed (and checked) before is read back from the cache
        doc = _cache.parsed("catalog-yaml", text, lambda t: parse_yaml(t, path))
    except InputFileError as exc:
        raise CatalogFileError(str(exc)) from None
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise CatalogFileError(f"{path}: the top level must be a mapping with keys {', '.join(_SECTIONS)}")
    for section, records in doc.items():
        if section not in _SECTIONS:
            raise CatalogFileError(
                f"{path}: unknown section {section!r}; allowed sections are {', '.join(_SECTIONS)}"
            )
        cls, key = _SECTIONS[section]
        if not isinstance(records, list):
            raise CatalogFileError(f"{path}: section '{section}' must be a list of records")
        for i, rec in enumerate(records):
            name = rec.get(key, f"#{i + 1}") if isinstance(rec, dict) else f"#{i + 1}"
            if not isinstance(rec, dict):
                raise CatalogFileError(f"{path}: {section} entry {name}: must be a mapping")
            try:
                obj = cls(**rec)
            except ValidationError as exc:
                raise CatalogFileError(f"{path}: {section} entry '{name}': {format_errors(exc.errors(), cls)}") from None
            except TypeError as exc:
                raise CatalogFileError(f"{path}: {section} entry '{name}': {exc}") from None
            out[section][getattr(obj, key)] = obj
            origin[f"{section}:{getattr(obj, key)}"] = path


def load_catalog(user_dir: str | os.PathLike | None = None) -> Catalog:
    """Load the built-in catalog plus the user's files (which add or override records)."""
    out: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    origin: dict[str, str] = {}
    data = resources.files("inferonomics.catalog") / "data"
    for entry in sorted(data.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            _load_file(f"built-in {entry.name}", entry.read_text(encoding="utf-8"), out, origin)
    if user_dir is not None:
        d = Path(user_dir)
        if not d.is_dir():
            raise CatalogFileError(f"catalog directory {str(d)!r} does not exist or is not a directory")
        from inferonomics.io import InputFileError, read_text

        for p in sorted(d.glob("*.y*ml")):
            try:
                text = read_text(p, str(p))
            except InputFileError as exc:
                raise CatalogFileError(str(exc)) from None
            _load_file(str(p), text, out, origin)
    return Catalog(**out, origin=origin)


@lru_cache(maxsize=8)
def _cached(user_dir: str | None) -> Catalog:
    return load_catalog(user_dir)


def get_catalog(user_dir: str | os.PathLike | None = None) -> Catalog:
    """The catalog, cached; ``user_dir`` defaults to ``$INFERONOMICS_CATALOG_DIR``."""
    if user_dir is None:
        user_dir = os.environ.get(ENV_DIR) or None
    return _cached(str(user_dir) if user_dir is not None else None)
