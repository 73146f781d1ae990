import pytest

from inferonomics.catalog import get_catalog


@pytest.fixture(scope="session")
def cat():
    return get_catalog(None)


@pytest.fixture(autouse=True)
def _no_user_catalog(monkeypatch):
    monkeypatch.delenv("INFERONOMICS_CATALOG_DIR", raising=False)
