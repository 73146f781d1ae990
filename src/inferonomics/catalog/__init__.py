"""The catalog: accelerators, models, regions, FX rates and the performance model's efficiency factors.

Built-in records live in ``catalog/data/*.yaml``.  User files (``*.yaml`` in a directory given by
``--catalog-dir`` or the ``INFERONOMICS_CATALOG_DIR`` environment variable) add records or override
built-in ones with the same slug.  Every record is validated by the schema (:mod:`.schema`); an error names
the file, the entry and the field.  The validated records of a file are cached by its content (and the code
that validated them), and the catalog holds plain immutable records built from them (:mod:`.records`), so
reading an unchanged catalog does not import pydantic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferonomics.errors import CatalogFileError, UnknownNameError

if TYPE_CHECKING:
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

# the one error formatter of every user file (:mod:`inferonomics.files`); names kept for existing imports
from inferonomics.files import _shown, format_errors, loc_path  # noqa: F401

ENV_DIR = "INFERONOMICS_CATALOG_DIR"

# section -> (schema class, field that identifies a record).  The records a catalog holds are built without
# pydantic (inferonomics.catalog.records) from what the schema validated, so that reading an unchanged
# catalog does not import pydantic; the schema classes are imported on first use.
_SECTIONS: dict[str, tuple[str, str]] = {
    "accelerators": ("Accelerator", "slug"),
    "models": ("Model", "slug"),
    "regions": ("Region", "slug"),
    "fx": ("FxRate", "currency"),
    "efficiency": ("EfficiencyFamily", "family"),
    "constants": ("Constant", "name"),
    "api_prices": ("ApiPrice", "key"),
    "engines": ("EngineProfile", "engine"),
}
_SCHEMA_NAMES = ("Accelerator", "ApiPrice", "Constant", "EfficiencyFamily", "EngineProfile", "FxRate", "Model",
                 "Region", "Sourced")


def __getattr__(name: str):
    if name in _SCHEMA_NAMES:
        from inferonomics.catalog import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

KINDS = ("accelerators", "models", "regions")

__all__ = [
    "Accelerator",
    "Catalog",
    "CatalogFileError",
    "Model",
    "Region",
    "Sourced",
    "get_catalog",
    "load_catalog",
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


@lru_cache(maxsize=1)
def _parser_version() -> str | None:
    """What a file's validated records depend on besides its text: the source of this loader, the schema, the
    records, the numeric limits, the units vocabulary and the YAML gate.  An edit to any of them makes new
    cache keys, so records validated by older code are never read; ``None`` (not cached) where the sources
    cannot be read."""
    from inferonomics._cache import digest

    here = Path(__file__).parent
    try:
        return digest(b"".join(p.read_bytes() for p in (here / "__init__.py", here / "schema.py",
                                                        here / "records.py", here.parent / "limits.py",
                                                        here.parent / "quantity.py", here.parent / "io.py")))
    except OSError:
        return None


def _validated(path: str, text: str) -> list:
    """The records of one catalog file, validated by the schema, as ``[[section, [record, ...]], ...]`` with
    each record in the JSON form of :func:`inferonomics.catalog.records.dump`."""
    from pydantic import ValidationError

    from inferonomics.catalog import records, schema
    from inferonomics.io import InputFileError, parse_yaml

    try:
        doc = parse_yaml(text, path)
    except InputFileError as exc:
        raise CatalogFileError(str(exc)) from None
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise CatalogFileError(f"{path}: the top level must be a mapping with keys {', '.join(_SECTIONS)}")
    out = []
    for section, recs in doc.items():
        if section not in _SECTIONS:
            raise CatalogFileError(
                f"{path}: unknown section {section!r}; allowed sections are {', '.join(_SECTIONS)}"
            )
        cls_name, key = _SECTIONS[section]
        cls = getattr(schema, cls_name)
        if not isinstance(recs, list):
            raise CatalogFileError(f"{path}: section '{section}' must be a list of records")
        dumped = []
        for i, rec in enumerate(recs):
            name = rec.get(key, f"#{i + 1}") if isinstance(rec, dict) else f"#{i + 1}"
            if not isinstance(rec, dict):
                raise CatalogFileError(f"{path}: {section} entry {name}: must be a mapping")
            try:
                obj = cls(**rec)
            except ValidationError as exc:
                raise CatalogFileError(f"{path}: {section} entry '{name}': {format_errors(exc.errors(), cls)}") from None
            except TypeError as exc:
                raise CatalogFileError(f"{path}: {section} entry '{name}': {exc}") from None
            dumped.append(records.dump(obj))
        out.append([section, dumped])
    return out


def _load_file(path: str, text: str, out: dict[str, dict[str, Any]], origin: dict[str, str]) -> None:
    from inferonomics import _cache
    from inferonomics.catalog import records

    # the same text validated before (by the same code) is read back from the cache, without pydantic
    sections = _cache.parsed("catalog-records", text, lambda t: _validated(path, t), version=_parser_version(),
                             hook=records.hook)
    for section, recs in sections:
        key = _SECTIONS[section][1]
        for obj in recs:
            out[section][getattr(obj, key)] = obj
            origin[f"{section}:{getattr(obj, key)}"] = path


def load_catalog(user_dir: str | os.PathLike | None = None) -> Catalog:
    """Load the built-in catalog plus the user's files (which add or override records)."""
    out: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    origin: dict[str, str] = {}
    data = Path(__file__).with_name("data")
    if not data.is_dir():  # not installed as files (a zip): through importlib.resources (slower to import)
        from importlib import resources

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
