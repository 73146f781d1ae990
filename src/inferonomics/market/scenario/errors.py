"""Scenario file errors: the exception, and the one formatter of pydantic errors
(:mod:`inferonomics.files`: file, field path, value, what is allowed, close field names) bound to the
scenario's schema."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from inferonomics import files
from inferonomics.errors import InferonomicsError, UnknownNameError


class ScenarioFileError(InferonomicsError):
    """A scenario file that cannot be read or fails validation; the message names file and field path."""


def loc_path(loc: tuple) -> str:
    return files.loc_path(loc, top="(top level)")


def format_validation(label: str, err: ValidationError) -> str:
    from inferonomics.market.scenario.models import ScenarioSpec

    return files.format_validation(label, err, ScenarioSpec)


def _field_hint(parent: tuple, name: Any) -> str:
    """Known field names of the mapping that holds an unknown one."""
    from inferonomics.market.scenario.models import ScenarioSpec

    return files.field_hint(ScenarioSpec, parent, name)


_inner_model = files._inner_model


def _fail(label: str, where: str, msg: str | Exception) -> ScenarioFileError:
    """The error for a field; an :class:`InputError` from the catalog or perf engine keeps its message without
    its own field prefix (the scenario's field path replaces it)."""
    if isinstance(msg, UnknownNameError):
        msg = str(msg).split(": ", 1)[1]
    return ScenarioFileError(f"{label}: field '{where}': {msg}")
