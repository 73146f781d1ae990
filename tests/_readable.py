"""What a person must never read in a table, chart or widget: shared by the report, dashboard and browser tests."""

from __future__ import annotations

import re

_URL = re.compile(r"(https?://|file://)\S+|arXiv[: ]\d+\.\d+|\b[\w./-]+\.(?:ya?ml|csv|json|png|html|py)\b")
_SCI = re.compile(r"(?<![\w.])\d+(?:\.\d+)?[eE][+-]?\d+\b")
_SNAKE = re.compile(r"(?<![\w./`-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/-])")
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*\.(\d+)(?![\w.])")
_MISSING = re.compile(r"\b(None|nan|NaN|NaT|inf)\b")


def problems(text: str) -> list[str]:
    """The unreadable bits of ``text``: scientific notation, snake_case names, ``None``/``nan``, and raw floats
    (more than 3 decimals and more than the 4 significant digits the presentation layer writes)."""
    text = _URL.sub(" ", text)
    out = [f"scientific notation {m.group(0)!r}" for m in _SCI.finditer(text)]
    out += [f"snake_case {m.group(0)!r}" for m in _SNAKE.finditer(text)]
    out += [f"missing value {m.group(0)!r}" for m in _MISSING.finditer(text)]
    for m in _NUMBER.finditer(text):
        digits = re.sub(r"\D", "", m.group(0)).lstrip("0")
        if len(m.group(1)) > 3 and len(digits) > 4:
            out.append(f"raw float {m.group(0)!r}")
    return out
