"""The catalog's records at run time: plain immutable objects built from validated data, without pydantic.

:mod:`inferonomics.catalog.schema` (pydantic) is the one definition of the records' fields and checks.  A
catalog file is validated through it once; the validated records are kept as JSON (:func:`dump`, see
:mod:`inferonomics._cache`) and every run builds its records from that JSON (:func:`hook`), whether the
JSON came from the cache or from validating the file just now.  So a command that reads the catalog does
not import pydantic when the files have not changed, and a cache hit and a miss give the same objects.

A record class here has the name of its schema class, the fields the schema gave the record it was built
from (``model_fields``, in the schema's order), the schema's methods (the ``*Methods`` mixins below, which
the schema classes inherit too) and ``model_dump`` / ``model_copy`` as pydantic models have them.  A record
is not an instance of its schema class (pydantic does not take virtual subclasses): test for the shared
methods instead (``isinstance(x, SourcedMethods)`` holds for a sourced number of either kind).

The vocabularies (dtypes, kinds, markets) live here so that the performance model checks names without
importing the schema.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4")
WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4", "q4_0", "q4_k_m", "q8_0")
KV_DTYPES = ("bf16", "fp16", "fp8")
ACCELERATOR_KINDS = ("datacenter", "rack-scale", "workstation", "edge")
API_MARKETS = ("china", "international")
QUALITY_TIERS = ("small", "medium", "large", "frontier")  # ordered, lowest first

CTX_RE = re.compile(r"^(\d+(?:\.\d+)?)(k|m)?-(\d+(?:\.\d+)?)(k|m)?$")


def ctx_tokens(num: str, unit: str | None) -> int:
    return round(float(num) * {"k": 1e3, "m": 1e6, None: 1.0}[unit])


# --- methods shared by the schema classes and the records ---------------------------------------------
class SourcedMethods:
    @property
    def provenance(self) -> str:
        if self.assumption:
            return f"assumption: {self.assumption}"
        return f"{self.source} ({self.date})"


class AcceleratorMethods:
    @property
    def memory_gb(self):
        """Deprecated name of ``memory_gib`` (the same record: the memory always was in GiB)."""
        return self.memory_gib

    def rental_price(self, field: str = "gpu"):
        """The rental price, or a :class:`NoRentalPriceError` naming the accelerator when it has none."""
        if self.rental_usd_per_gpu_hour is None:
            from inferonomics.errors import NoRentalPriceError

            raise NoRentalPriceError(
                field,
                self.slug,
                "no public per-hour rental price was found for it; give a price (--rent-usd-per-gpu-hour, "
                "or rent_usd_per_gpu_hour in a file), own it instead, or add rental_usd_per_gpu_hour to it "
                "in a user catalog file",
            )
        return self.rental_usd_per_gpu_hour

    def peak_tflops(self, dtype: str) -> float | None:
        """Dense peak for a compute dtype, falling back as engines do (fp16<->bf16)."""
        d = self.peak_dense_tflops
        if dtype in d:
            return d[dtype].value
        if dtype in ("bf16", "fp16"):
            other = "fp16" if dtype == "bf16" else "bf16"
            return d[other].value if other in d else None
        return None


class ApiPriceMethods:
    @property
    def context_range_tokens(self) -> tuple[int, int | None]:
        """(from, to] input tokens per request the price applies to; (0, None) when not tiered."""
        if self.context_tier is None:
            return 0, None
        m = CTX_RE.match(self.context_tier)
        return ctx_tokens(m[1], m[2]), ctx_tokens(m[3], m[4])

    @property
    def key(self) -> str:
        """Identity of a record: a user file overrides the built-in record with the same key."""
        k = f"{self.provider}/{self.model}/{self.market}/{self.effective_date}"
        return k + (f"/{self.context_tier}" if self.context_tier else "")


# schema class name -> its methods (the schema classes inherit the same mixins; a test checks they agree)
METHODS: dict[str, tuple[type, ...]] = {
    "Sourced": (SourcedMethods,),
    "Constant": (SourcedMethods,),
    "Accelerator": (AcceleratorMethods,),
    "ApiPrice": (ApiPriceMethods,),
}


# --- records ----------------------------------------------------------------------------------------
def _plain(v: Any, exclude_none: bool) -> Any:
    if isinstance(v, Record):
        return v.model_dump(exclude_none=exclude_none)
    if isinstance(v, dict):
        return {k: _plain(x, exclude_none) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x, exclude_none) for x in v]
    return v


class Record:
    """Base of the record classes: immutable, compared and hashed by value, dumped like a pydantic model."""

    model_fields: ClassVar[dict[str, None]] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use model_copy(update=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self.__dict__.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

    def __reduce__(self):
        return _rebuild, (type(self).__name__, dict(self.__dict__))

    def model_dump(self, *, mode: str = "python", exclude_none: bool = False) -> dict[str, Any]:
        """The record as plain dicts and lists (every value is already JSON-compatible, so ``mode`` does not
        change anything)."""
        return {k: _plain(v, exclude_none) for k, v in self.__dict__.items() if not (exclude_none and v is None)}

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False):
        """A copy with some fields replaced (not validated, as pydantic's ``model_copy``)."""
        import copy

        d = copy.deepcopy(self.__dict__) if deep else dict(self.__dict__)
        bad = set(update or ()) - set(d)
        if bad:
            raise AttributeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(bad))}")
        return _new(type(self), {**d, **(update or {})})


_CLASSES: dict[str, type[Record]] = {}


def _new(cls: type[Record], values: dict[str, Any]) -> Record:
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    return obj


def record_class(name: str, fields) -> type[Record]:
    """The record class ``name`` (made on first use, with the fields of the first record built)."""
    cls = _CLASSES.get(name)
    if cls is None:
        cls = type(name, (*METHODS.get(name, ()), Record), {
            "__module__": __name__, "__qualname__": name, "model_fields": dict.fromkeys(fields),
        })
        _CLASSES[name] = cls
    return cls


def _rebuild(name: str, values: dict[str, Any]) -> Record:
    return _new(record_class(name, values), values)


TAG = "__record__"


def dump(obj: Any) -> Any:
    """A validated schema object as JSON-compatible data: each record a mapping tagged with its class name."""
    fields = getattr(type(obj), "model_fields", None)
    if fields is not None:
        return {TAG: type(obj).__name__, **{k: dump(getattr(obj, k)) for k in fields}}
    if isinstance(obj, dict):
        return {k: dump(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [dump(v) for v in obj]
    return obj


def hook(d: dict[str, Any]) -> Any:
    """``json.loads`` object hook: a tagged mapping becomes its record (inner records are built first)."""
    name = d.pop(TAG, None)
    if name is None:
        return d
    return _new(_CLASSES.get(name) or record_class(name, d), d)


__all__ = [
    "ACCELERATOR_KINDS", "API_MARKETS", "DTYPES", "KV_DTYPES", "QUALITY_TIERS", "WEIGHT_DTYPES",
    "AcceleratorMethods", "ApiPriceMethods", "Record", "SourcedMethods", "dump", "hook", "record_class",
]
