"""Modules imported on first use, so that a command that never needs them does not pay for importing them.

``from inferonomics._lazy import np`` gives a stand-in for NumPy: the first attribute looked up on it imports
NumPy.  A single prediction runs on plain Python floats and never touches it; sweeps do.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


class LazyModule(ModuleType):
    def __init__(self, name: str):
        super().__init__(name)
        self._lazy_name = name

    def __getattr__(self, attr: str):
        mod = importlib.import_module(self._lazy_name)
        self.__dict__.update(mod.__dict__)  # later lookups skip __getattr__
        return getattr(mod, attr)


def loaded(name: str) -> ModuleType | None:
    """The module if something has already imported it, else ``None`` (never imports it)."""
    return sys.modules.get(name)


np = LazyModule("numpy")

__all__ = ["LazyModule", "loaded", "np"]
