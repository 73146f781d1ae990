"""End to end in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright for Python.

* The dashboard is served by ``inferonomics app`` on 127.0.0.1 (a free port, a subprocess); the test changes
  inputs the way a person does and checks that the figures shown are exactly what the Python API computes
  (formatted by the dashboard's own formatters), and that bad input is a message, not a traceback.
* The HTML report, opened from disk (file://), renders every chart and logs no console error.

Nothing is downloaded: Playwright drives /usr/bin/chromium (never ``playwright install``).  The tests skip,
with the reason, only when Chromium, Playwright or Streamlit is missing (CI installs them).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _missing(*modules: str) -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    for mod, extra in (("playwright", "dev"), ("streamlit", "app")):
        if mod in modules and importlib.util.find_spec(mod) is None:
            return f"needs the Python package {mod} (pip install -e '.[{extra}]')"
    return None


_NO_BROWSER = _missing("playwright")
_NO_DASHBOARD = _missing("playwright", "streamlit")
pytestmark = pytest.mark.skipif(_NO_BROWSER is not None, reason=_NO_BROWSER or "")
needs_streamlit = pytest.mark.skipif(_NO_DASHBOARD is not None, reason=_NO_DASHBOARD or "")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # the first run of the dashboard imports pandas and computes
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000}, accept_downloads=True,
        )
        ctx.set_default_timeout(30_000)
        try:
            yield ctx
        finally:
            ctx.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """``inferonomics app`` on a free local port; yields its URL once the health endpoint answers."""
    if _NO_DASHBOARD:
        pytest.skip(_NO_DASHBOARD)
    port = _free_port()
    log = tmp_path_factory.mktemp("dashboard") / "streamlit.log"
    env = {k: v for k, v in os.environ.items() if k != "INFERONOMICS_CATALOG_DIR"}
    env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = "none"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "inferonomics", "app", "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the dashboard exited with code {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url + "_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not answer on {url} within 60 s:\n{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _metric(page, label: str):
    """The value element of the ``st.metric`` whose label is exactly ``label``."""
    return page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True)).locator(
        '[data-testid="stMetricValue"]')


def _api(**change) -> dict:
    from inferonomics.app import COST_DEFAULTS
    from inferonomics.cost import cost

    kw = {**COST_DEFAULTS, **change}
    return cost(kw.pop("model"), kw.pop("gpu"), **kw)


@needs_streamlit
def test_cost_page_follows_inputs_exactly(browser, dashboard):
    from playwright.sync_api import expect

    from inferonomics.app import (
        COST_DEFAULTS,
        L_IN_CONCURRENCY,
        L_TPOT,
        L_USD_HOUR,
        L_USD_OUT,
        fmt_seconds,
        fmt_usd,
    )

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(dashboard)
    usd = _metric(page, L_USD_OUT)

    base = _api()
    expect(usd).to_have_text(fmt_usd(base["usd_per_mtok_output"]))
    expect(_metric(page, L_TPOT)).to_have_text(fmt_seconds(base["tpot_s"]))

    # Fewer requests in flight: less throughput per GPU, so each output token costs more.
    box = page.get_by_label(L_IN_CONCURRENCY, exact=True)
    box.fill("8")
    box.press("Enter")
    low = _api(concurrency=8)
    assert fmt_usd(low["usd_per_mtok_output"]) != fmt_usd(base["usd_per_mtok_output"])
    expect(usd).to_have_text(fmt_usd(low["usd_per_mtok_output"]))
    expect(_metric(page, L_TPOT)).to_have_text(fmt_seconds(low["tpot_s"]))

    # Another accelerator: another rental price and speed.
    combo = page.get_by_role("combobox", name="Accelerator")
    combo.click()
    combo.fill("h200")
    page.get_by_role("option", name="h200", exact=True).click()
    other = _api(concurrency=8, gpu="h200")
    expect(_metric(page, L_USD_HOUR)).to_have_text(fmt_usd(other["usd_per_gpu_hour"]))
    expect(usd).to_have_text(fmt_usd(other["usd_per_mtok_output"]))

    # The frontier table downloads as CSV with the API's numbers.
    import pandas as pd

    from inferonomics.perf import frontier

    with page.expect_download() as dl:
        page.get_by_role("button", name="Download frontier CSV").click()
    got = pd.read_csv(dl.value.path())
    kw = {k: v for k, v in COST_DEFAULTS.items() if k not in ("model", "gpu", "concurrency")}
    want = frontier(COST_DEFAULTS["model"], "h200", **kw)
    assert list(got["concurrency"]) == list(want["concurrency"])
    assert got["output_tokens_per_s_per_gpu"].to_numpy() == pytest.approx(want["output_tokens_per_s_per_gpu"].to_numpy())
    assert page.locator('[data-testid="stException"]').count() == 0
    assert errors == []
    page.close()


@needs_streamlit
def test_bad_input_is_a_message_not_a_traceback(browser, dashboard):
    from playwright.sync_api import expect

    from inferonomics.app import L_USD_OUT
    from inferonomics.errors import InferonomicsError

    page = browser.new_page()
    page.goto(dashboard)
    expect(_metric(page, L_USD_OUT)).to_be_visible()
    # 3 GPUs with tp=auto asks for tensor parallelism 3, which does not divide the 64 heads of the 70B model.
    with pytest.raises(InferonomicsError) as exc:
        _api(gpus=3)
    box = page.get_by_label("GPUs", exact=True)
    box.fill("3")
    box.press("Enter")
    alert = page.locator('[data-testid="stAlert"]')
    expect(alert).to_contain_text(str(exc.value))
    expect(_metric(page, L_USD_OUT)).to_have_count(0)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


@needs_streamlit
def test_every_page_opens(browser, dashboard):
    from playwright.sync_api import expect

    from inferonomics.app import PAGES

    page = browser.new_page()
    outside: list[str] = []  # the dashboard works offline: nothing but the local server is asked for anything
    page.on("request", lambda r: None if r.url.startswith((dashboard, "data:", "blob:")) else outside.append(r.url))
    page.goto(dashboard)
    sidebar = page.locator('[data-testid="stSidebar"]')
    for name in PAGES[1:] + PAGES[:1]:
        sidebar.get_by_text(name, exact=True).click()
        title = "What a million tokens costs to make" if name == "Cost" else name
        expect(page.locator("h1").filter(has_text=title)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.locator('[data-testid="stException"]').count() == 0, name
    assert outside == []
    page.close()


def test_report_renders_every_chart_without_console_errors(browser, tmp_path):
    from inferonomics.report import build_report

    res = build_report(tmp_path / "report")
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(res.html_path.resolve().as_uri())
    page.wait_for_load_state("load")
    imgs = page.eval_on_selector_all(
        "img", "els => els.map(e => ({chart: e.dataset.chart, complete: e.complete, width: e.naturalWidth}))")
    assert len(imgs) == len(res.png_paths) >= 3
    for img in imgs:
        assert img["complete"] and img["width"] > 0, img
    assert problems == []
    page.close()


WIDTHS = (1280, 390)
# Streamlit draws its icons with the Material Symbols font: their text is a ligature name, not words a person reads.
_ICON_NAMES_JS = """() => [...document.querySelectorAll('span, i')]
    .filter(e => !e.children.length && getComputedStyle(e).fontFamily.includes('Material'))
    .map(e => e.innerText).filter(t => t)"""
_OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.mark.parametrize("width", WIDTHS)
def test_report_fits_the_page_and_every_section_is_screenshotted(browser, tmp_path, width):
    """At a desktop width and a phone width nothing overflows the page horizontally; each section renders
    (a screenshot of it is written) and its box stays inside the viewport."""
    from inferonomics.report import build_report

    res = build_report(tmp_path / "report")
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(res.html_path.resolve().as_uri())
    page.wait_for_load_state("load")
    assert page.evaluate(_OVERFLOW_JS) <= 0, f"the page is wider than {width} px"
    sections = page.locator("section")
    assert sections.count() >= len(res.sections)
    for i in range(sections.count()):
        sec = sections.nth(i)
        key = sec.get_attribute("id")
        shot = tmp_path / f"report-{key}-{width}.png"
        sec.screenshot(path=str(shot))
        assert shot.read_bytes()[:4] == b"\x89PNG"
        box = sec.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (key, box)
    page.emulate_media(media="print")  # printed on A4 portrait: 794 px at 96 dpi
    page.set_viewport_size({"width": 794, "height": 1123})
    assert page.evaluate(_OVERFLOW_JS) <= 0, "the printed page is wider than A4"
    page.close()


@needs_streamlit
@pytest.mark.parametrize("width", WIDTHS)
def test_dashboard_pages_fit_the_page(browser, dashboard, tmp_path, width):
    """Every page at a desktop and a phone width: screenshotted, nothing wider than the page, and no raw
    float, scientific notation, snake_case or None in what it shows."""
    from _readable import problems
    from playwright.sync_api import expect

    from inferonomics.app import PAGES

    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(dashboard)
    expect(page.locator("h1").first).to_be_visible()
    for name in PAGES:
        if width < 600:  # the sidebar is collapsed on a phone: open it to change page
            toggle = page.locator('[data-testid="stExpandSidebarButton"], [data-testid="stSidebarCollapsedControl"]')
            if toggle.count():
                toggle.first.click()
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.get_by_text(name, exact=True).click()
        title = "What a million tokens costs to make" if name == "Cost" else name
        expect(page.locator("h1").filter(has_text=title)).to_be_visible()
        page.wait_for_load_state("networkidle")
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)  # the run has finished
        main = page.locator('[data-testid="stMain"], section.main').first
        main.screenshot(path=str(tmp_path / f"dashboard-{name}-{width}.png"))
        assert page.locator('[data-testid="stException"]').count() == 0, name
        assert page.evaluate(_OVERFLOW_JS) <= 0, f"{name}: wider than {width} px"
        # what a person reads on the page and in the sidebar (slider positions included): formatted figures only
        text = main.inner_text() + "\n" + (sidebar.inner_text() if sidebar.is_visible() else "")
        for icon in set(page.evaluate(_ICON_NAMES_JS)):
            text = text.replace(icon, " ")  # an icon's ligature name (keyboard_double_arrow_left) is drawn, not read
        assert not problems(text), (name, width, problems(text))
        if name == "Buyer break-even":  # the growth slider reads as a percentage, not as 3.464
            assert "%" in sidebar.inner_text()
    page.close()
