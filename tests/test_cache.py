"""The parsed-file cache: content-addressed, JSON only, never stale, never in the way."""

import datetime as dt
import json

import pytest

from inferonomics import _cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(_cache.ENV, str(tmp_path / "c"))
    return tmp_path / "c"


def test_a_parse_is_cached_by_content_and_read_back_equal(cache):
    calls = []

    def parse(text):
        calls.append(text)
        return {"a": [1, 2.5, None, "x"], "date": dt.date(2025, 3, 1), "nan": float("inf")}

    first = _cache.parsed("k", "text one", parse)
    again = _cache.parsed("k", "text one", parse)
    assert again == first and isinstance(again["date"], dt.date)
    assert calls == ["text one"]  # parsed once
    _cache.parsed("k", "text two", parse)  # an edited file is a new key: parsed again
    assert calls == ["text one", "text two"]
    assert len(list((cache / "k").glob("*.json"))) == 2


def test_documents_json_cannot_hold_exactly_are_not_cached(cache):
    _cache.put("k", "t", {1: "int key"})  # JSON would turn the key into "1"
    assert _cache.get("k", "t") is _cache._MISS


def test_a_corrupt_entry_is_ignored_and_replaced(cache):
    _cache.put("k", "t", {"v": 1})
    (entry,) = (cache / "k").glob("*.json")
    entry.write_text("{not json", encoding="utf-8")
    assert _cache.parsed("k", "t", lambda t: {"v": 2}) == {"v": 2}
    assert json.loads(entry.read_text(encoding="utf-8")) == {"v": 2}


def test_cache_off_and_unwritable_directory_change_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(_cache.ENV, "off")
    assert _cache.cache_dir() is None
    assert _cache.parsed("k", "t", lambda t: {"v": 1}) == {"v": 1}
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv(_cache.ENV, str(blocker / "sub"))  # a directory under a file cannot be made
    assert _cache.parsed("k", "t", lambda t: {"v": 3}) == {"v": 3}


def test_the_catalog_loads_the_same_from_the_cache(cache):
    from inferonomics.catalog import load_catalog

    a = load_catalog()
    assert list((cache / "catalog-yaml").glob("*.json"))
    b = load_catalog()
    for kind in ("accelerators", "models", "regions", "constants", "efficiency", "engines", "api_prices"):
        assert getattr(a, kind) == getattr(b, kind), kind
