"""The catalog's run-time records: built without pydantic from what the schema validated, and the same to
every reader as the schema's objects (fields, values, methods, dumps)."""

import copy
import pickle
from importlib import resources

import pytest
import yaml

from inferonomics.catalog import _SECTIONS, records, schema
from inferonomics.errors import NoRentalPriceError


def _pairs(cat):
    """(schema object validated from the built-in file, the catalog's record) for every built-in record."""
    data = resources.files("inferonomics.catalog") / "data"
    for entry in sorted(data.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        for section, recs in yaml.safe_load(entry.read_text(encoding="utf-8")).items():
            cls_name, key = _SECTIONS[section]
            for raw in recs:
                obj = getattr(schema, cls_name)(**raw)
                yield obj, getattr(cat, section)[getattr(obj, key)]


def test_records_hold_what_the_schema_validated(cat):
    n = 0
    for obj, rec in _pairs(cat):
        n += 1
        assert type(rec).__name__ == type(obj).__name__ and isinstance(rec, records.Record)
        assert list(type(rec).model_fields) == list(type(obj).model_fields)  # the schema's fields, in order
        assert rec.model_dump() == obj.model_dump()
        assert rec.model_dump(exclude_none=True) == obj.model_dump(exclude_none=True)
        assert rec.model_dump(mode="json") == obj.model_dump(mode="json")
        assert repr(rec) == repr(obj)
    assert n > 100


def test_records_have_the_schema_methods(cat):
    for name in dir(schema):
        cls = getattr(schema, name)
        if isinstance(cls, type) and issubclass(cls, schema.BaseModel) and cls is not schema._Strict:
            mixins = {b for b in cls.__mro__ if b.__name__.endswith("Methods")}
            assert mixins == set(records.METHODS.get(name, ())), name
    for obj, rec in _pairs(cat):
        if isinstance(obj, schema.Accelerator):
            for dt in (*schema.DTYPES, "q4_0"):
                assert rec.peak_tflops(dt) == obj.peak_tflops(dt)
            assert rec.memory_gib.provenance == obj.memory_gib.provenance
        if isinstance(obj, schema.ApiPrice):
            assert (rec.key, rec.context_range_tokens) == (obj.key, obj.context_range_tokens)
    tiered = [p for p in cat.api_prices.values() if p.context_tier]
    assert tiered and all(p.context_range_tokens[1] > p.context_range_tokens[0] for p in tiered)
    no_rent = [a for a in cat.accelerators.values() if a.rental_usd_per_gpu_hour is None]
    if no_rent:
        with pytest.raises(NoRentalPriceError, match=no_rent[0].slug):
            no_rent[0].rental_price()


def test_records_are_immutable_values(cat):
    acc = cat.accelerator("h100-sxm")
    with pytest.raises(AttributeError, match="immutable"):
        acc.tdp_w = acc.memory_gib
    with pytest.raises(AttributeError):
        del acc.slug
    cheaper = acc.model_copy(update={"notes": "a copy"})
    assert cheaper.notes == "a copy" and acc.notes != "a copy" and cheaper.slug == acc.slug
    assert cheaper != acc and acc.model_copy() == acc
    with pytest.raises(AttributeError, match="no field"):
        acc.model_copy(update={"memory": 1})
    assert pickle.loads(pickle.dumps(acc)) == acc
    assert copy.deepcopy(cat.model("deepseek-v3")) == cat.model("deepseek-v3")
    s = acc.memory_gib
    assert hash(s) == hash(copy.copy(s)) and {s: 1}[copy.deepcopy(s)] == 1
    assert isinstance(s, records.SourcedMethods) and not isinstance(s, schema.Sourced)


def test_a_record_is_built_from_its_json_form():
    src = schema.Sourced(value=1.5, assumption="a test value, not a real one")
    tree = records.dump({"x": [src]})
    assert tree == {"x": [{records.TAG: "Sourced", "value": 1.5, "unit": None, "source": None, "date": None,
                           "assumption": "a test value, not a real one", "note": None, "low": None,
                           "high": None}]}
    import json

    rec = json.loads(json.dumps(tree), object_hook=records.hook)["x"][0]
    assert rec.value == 1.5 and rec.provenance == "assumption: a test value, not a real one"
