"""The methodology site: builds strict, loads nothing from the network, and typesets every formula.

Skipped where the ``docs`` extra (mkdocs-material, mkdocstrings) is not installed; .ci/run installs it and
runs this file after the main suite.  The formulas are checked in Debian's Chromium (as tests/test_browser.py)
when it and Playwright are there.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("mkdocs", "material", "mkdocstrings")),
    reason="needs the docs extra (pip install -e '.[docs]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)], check=False,
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    return out


# a resource the browser fetches when the page loads (a link out of the site is not one)
_FETCHED = re.compile(r"<(?:script|img|iframe)\b[^>]*\bsrc=\"(https?:)?//|<link\b[^>]*\brel=\"(?:stylesheet|preload|"
                      r"preconnect|icon|manifest)\"[^>]*\bhref=\"(https?:)?//|@import\s+url\(\"?(https?:)?//")


def test_the_site_loads_nothing_from_the_network(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    outside = [str(p.relative_to(site)) for p in pages if _FETCHED.search(p.read_text(encoding="utf-8"))]
    assert not outside, outside
    for asset in ("katex.min.js", "katex.min.css", "auto-render.min.js", "render.js"):
        assert (site / "assets" / "katex" / asset).is_file(), asset
    assert len(list((site / "assets" / "katex" / "fonts").glob("*.woff2"))) == 20
    html = (site / "methodology" / "performance" / "index.html").read_text(encoding="utf-8")
    assert 'class="arithmatex"' in html and "assets/katex/katex.min.js" in html and "mathjax" not in html.lower()


@pytest.mark.skipif(not os.path.exists(CHROMIUM) or importlib.util.find_spec("playwright") is None,
                    reason=f"needs Chromium at {CHROMIUM} and Playwright")
def test_every_formula_is_typeset_offline(site):
    from playwright.sync_api import sync_playwright

    pages = [p for p in sorted(site.rglob("index.html")) if 'class="arithmatex"' in p.read_text(encoding="utf-8")]
    assert len(pages) >= 2
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else outside.append(r.url))
            for p in pages:
                page.goto(p.as_uri())
                page.wait_for_load_state("load")
                page.wait_for_function("document.querySelectorAll('.arithmatex').length === 0 || "
                                       "document.querySelectorAll('.arithmatex .katex').length > 0")
                n_math = page.locator(".arithmatex").count()
                n_done = page.locator(".arithmatex .katex").count()
                assert n_done >= n_math > 0, (p, n_math, n_done)
                errors = page.locator(".katex-error").all_inner_texts()
                assert not errors, (p, errors[:3])
                # the fonts come from the site itself
                assert page.evaluate("document.fonts.check('16px KaTeX_Main')"), p
            assert outside == [], outside
        finally:
            browser.close()
