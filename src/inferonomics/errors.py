"""Errors users see.

Every error raised for bad input is an :class:`InputError`: it names the field, the value and what is
allowed, plus close matches for unknown names.  Front ends print ``str(err)`` and exit with code 2;
they never show a traceback for these.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InferonomicsError(Exception):
    """Base class of the errors inferonomics raises on purpose."""


class InputError(InferonomicsError, ValueError):
    """Bad input: a field, the value given, and what is allowed."""

    problem = "is not allowed"

    def __init__(self, field: str, value: object, allowed: str, hint: str | None = None):
        self.field = field
        self.value = value
        self.allowed = allowed
        self.hint = hint
        shown = "no value" if value is None else repr(value)
        problem = "was given" if value is None and self.problem == "is not allowed" else self.problem
        msg = f"{field}: {shown} {problem}; {allowed}."
        if hint:
            msg += f" {hint}"
        super().__init__(msg)


class UnknownNameError(InputError):
    """A slug that is not in the catalog."""

    problem = "is unknown"

    def __init__(self, field: str, value: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
        if not close:
            close = [k for k in known if value.lower() in k or k in value.lower()][:3]
        hint = f"Did you mean {', '.join(close)}?" if close else None
        listing = ", ".join(known) if len(known) <= 40 else ", ".join(known[:40]) + ", ..."
        super().__init__(field, value, f"known values are: {listing}", hint)
        self.close_matches = close


class DoesNotFitError(InputError):
    """A single deployment whose weights and minimal KV cache do not fit in memory."""

    problem = "does not fit"


class CatalogFileError(InferonomicsError):
    """A catalog data file (built-in or the user's) that fails validation."""


class NoRentalPriceError(InputError):
    """An accelerator the catalog has no rental price for (desktop, edge and most workstation devices)."""

    problem = "has no rental price in the catalog"
