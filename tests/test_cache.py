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


def test_old_entries_are_dropped_oldest_first(cache, monkeypatch):
    import os

    monkeypatch.setattr(_cache, "MAX_ENTRIES", 3)
    for i in range(5):
        _cache.put("k", f"text {i}", {"i": i})
        (entry,) = [e for e in (cache / "k").glob("*.json") if json.loads(e.read_text())["i"] == i]
        os.utime(entry, (1_000_000 + i, 1_000_000 + i))  # written in this order
    assert sorted(json.loads(e.read_text())["i"] for e in (cache / "k").glob("*.json")) == [2, 3, 4]
    assert _cache.get("k", "text 4") == {"i": 4} and _cache.get("k", "text 0") is _cache._MISS


def test_the_version_of_the_parser_is_part_of_the_key(cache):
    calls = []

    def parse(text):
        calls.append(text)
        return {"v": len(calls)}

    assert _cache.parsed("k", "t", parse, version="a") == {"v": 1}
    assert _cache.parsed("k", "t", parse, version="a") == {"v": 1}
    assert _cache.parsed("k", "t", parse, version="b") == {"v": 2}  # records validated by other code: not read
    assert _cache.parsed("k", "t", parse, version=None) == {"v": 3}  # no version: never cached
    assert _cache.parsed("k", "t", parse, version=None) == {"v": 4}


def test_a_hook_builds_the_same_objects_on_a_hit_and_a_miss(cache):
    def hook(d):
        return tuple(sorted(d.items())) if "x" in d else d

    miss = _cache.parsed("k", "t", lambda t: [{"x": 1, "d": dt.date(2025, 1, 2)}], hook=hook)
    hit = _cache.parsed("k", "t", lambda t: 1 / 0, hook=hook)
    assert miss == hit == [(("d", dt.date(2025, 1, 2)), ("x", 1))]


def test_the_catalog_loads_the_same_from_the_cache(cache, monkeypatch):
    from inferonomics.catalog import load_catalog

    a = load_catalog()  # validated, then cached
    assert list((cache / "catalog-records").glob("*.json"))
    b = load_catalog()  # from the cache
    monkeypatch.setenv(_cache.ENV, "off")
    c = load_catalog()  # validated, no cache
    for kind in ("accelerators", "models", "regions", "fx", "constants", "efficiency", "engines", "api_prices"):
        assert getattr(a, kind) == getattr(b, kind) == getattr(c, kind), kind
        assert len(getattr(a, kind)) > 0, kind
    assert a.origin == b.origin == c.origin


def test_a_cached_catalog_is_read_without_pydantic(cache, tmp_path):
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom inferonomics.catalog import load_catalog\ncat = load_catalog()\n"
            "print(cat.accelerator('h100-sxm').memory_gib.value, 'pydantic' in sys.modules)\n")
    env = {**os.environ, _cache.ENV: str(cache)}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.split() == ["80.0", "True"]  # validated by the schema on the first run
    assert again.stdout.split() == ["80.0", "False"]
