"""The published index.html in a real browser: Debian's headless Chromium, driven by
selenium through /usr/bin/chromedriver, opening the page from disk (file://).

Chromium is installed by ``scripts/setup.sh --with-browser`` (and by setup.sh in CI).
When it is missing these tests skip with a one-line reason, except in CI (the CI variable
set), where they fail: CI cannot pass without having looked at the page. CHROMIUM and
CHROMEDRIVER name a browser kept elsewhere than /usr/bin.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hyperret_eval.cli import main

from .leaderboard_inputs import MINILM_NAME, copy_results, derive_model, main_score, minilm_folder, write_json

pytestmark = pytest.mark.browser
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
EVIL = "<script>alert(1)</script>"
HICL = "hyperret/hicl-minilm-l6"
# Runs before any script of the page: an alert() would be recorded, not shown.
ALERT_HOOK = "window.__alerts = []; window.alert = function (message) { window.__alerts.push(String(message)); };"


def in_ci() -> bool:
    return os.environ.get("CI", "") not in ("", "false", "0")


def require_browser(chromium: Path = CHROMIUM, chromedriver: Path = CHROMEDRIVER) -> None:
    """Skip outside CI, fail in CI, when the browser or its driver is missing."""
    missing = [str(p) for p in (chromium, chromedriver) if not p.exists()]
    if missing:
        reason = f"{' and '.join(missing)} missing (bash scripts/setup.sh --with-browser installs them)"
        if in_ci():
            pytest.fail(f"{reason}; CI must run the page test", pytrace=False)
        pytest.skip(reason)


@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception), ("false", pytest.skip.Exception),
                                         ("true", pytest.fail.Exception)])
def test_a_missing_browser_skips_outside_ci_and_fails_in_ci(tmp_path, monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="missing"):
        require_browser(tmp_path / "chromium", CHROMEDRIVER)


@pytest.fixture
def browser(tmp_path, monkeypatch):
    require_browser()
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never try to download a driver
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,1200"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ALERT_HOOK})
    yield driver
    driver.quit()


BENCHMARKS = {"search_tradeoff": [
    {"corpus": "SciFact", "method": "exhaustive", "settings": "all passages", "queries_per_second": 35.0,
     "recall_at_10": 1.0, "ndcg_at_10": 1.0},
    {"corpus": "SciFact", "method": "graph", "settings": "ip graph, ef 16", "queries_per_second": 900.0,
     "recall_at_10": 0.84, "ndcg_at_10": 0.9},
    {"corpus": "SciFact", "method": "graph", "settings": "ip graph, ef 32", "queries_per_second": 800.0,
     "recall_at_10": 0.80, "ndcg_at_10": 0.88},  # slower and worse than ef 16: off the front
    {"corpus": "SciFact", "method": "graph", "settings": "ip graph, ef 64", "queries_per_second": 410.5,
     "recall_at_10": 0.96, "ndcg_at_10": 0.97},
    {"corpus": "synthetic-100000", "method": "exhaustive", "settings": "all passages", "queries_per_second": 1.9,
     "recall_at_10": 1.0, "ndcg_at_10": 1.0},
    {"corpus": "synthetic-100000", "method": "graph", "settings": "l2 graph, ef 16", "queries_per_second": 80.0,
     "recall_at_10": 0.72, "ndcg_at_10": 0.83},
    {"corpus": "synthetic-100000", "method": "graph", "settings": "l2 graph, ef 64", "queries_per_second": 30.0,
     "recall_at_10": 0.91, "ndcg_at_10": 0.95},
]}


@pytest.fixture
def page(capsys, minilm_run_results, tmp_path) -> Path:
    """index.html of minilm, a better recipe model (STS12 only), and a worse one whose name is a script tag."""
    results = copy_results(minilm_run_results, tmp_path / "results")
    derive_model(results, "hyperret__hicl-minilm-l6", HICL, "0123456789ab", source="recipe", score_shift=0.03,
                 tasks=("STS12",))
    derive_model(results, EVIL.replace("/", "__"), EVIL, "rev1", score_shift=-0.04)  # the folder mteb would use
    bench = tmp_path / "bench.json"
    write_json(bench, BENCHMARKS)
    code = main(["publish", str(results), "--leaderboard", str(tmp_path / "leaderboard"), "--benchmarks", str(bench)])
    assert code == 0, capsys.readouterr().err
    return tmp_path / "leaderboard" / "index.html"


def _show(driver, page: Path, width: int) -> None:
    """The page as a window ``width`` CSS pixels wide shows it (a phone's when narrow)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.get(page.as_uri())


def _screenshot(driver, path: Path) -> None:
    """The whole page, as tall as it is, in ``path``."""
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    assert driver.save_screenshot(str(path))
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 10_000


def _column(driver, table_id: str, header: str) -> list[str]:
    """The first line of each cell of a column: a score without its difference, a model without its revision."""
    from selenium.webdriver.common.by import By

    headers = [th.text.strip() for th in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")]
    index = headers.index(header)
    return [row.find_elements(By.TAG_NAME, "td")[index].text.strip().splitlines()[0]
            for row in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr[data-order]")]


def _click_header(driver, table_id: str, header: str) -> None:
    from selenium.webdriver.common.by import By

    for th in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th"):
        if th.text.strip() == header:
            th.find_element(By.TAG_NAME, "button").click()
            return
    raise AssertionError(f"no header {header!r} in #{table_id}")


# Layout facts measured in the page, each a list of what is wrong (empty when all is well).
# Elements whose text is wider than their box: cut, or spilling out.
OVERFLOWING = """
return Array.prototype.filter.call(document.querySelectorAll(arguments[0]), function (e) {
  return e.scrollWidth > e.clientWidth + 1;
}).map(function (e) { return e.textContent; });
"""
# Elements arguments[1] inside arguments[0] that are drawn beyond its box.
OUTSIDE = """
var scope = arguments[0], outer = document.querySelector(scope).getBoundingClientRect();
var inner = arguments[1].split(",").map(function (s) { return scope + " " + s.trim(); }).join(",");
return Array.prototype.filter.call(document.querySelectorAll(inner), function (e) {
  var r = e.getBoundingClientRect();
  if (!r.width && !r.height) { return false; }  // not drawn (display: none)
  return r.left < outer.left - 1 || r.right > outer.right + 1 || r.top < outer.top - 1 || r.bottom > outer.bottom + 1;
}).map(function (e) { return e.textContent; });
"""
# The characters either side of each line break inside the elements (but those holding
# the text arguments[1]): where their text wraps.
WRAPS_AFTER = """
var found = [], skip = arguments[1];
document.querySelectorAll(arguments[0]).forEach(function (element) {
  if (element.textContent.indexOf(skip) >= 0) { return; }
  var walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT), previous = null;
  while (walker.nextNode()) {
    var node = walker.currentNode;
    for (var i = 0; i < node.length; i++) {
      var range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      var box = range.getClientRects()[0];
      if (!box || !node.data[i].trim()) { continue; }
      if (previous && box.top > previous.top + 2) { found.push(previous.text + "|" + node.data[i]); }
      previous = { top: box.top, text: node.data[i] };
    }
  }
});
return found;
"""


def test_page_in_headless_chromium(browser, page, minilm_run_results, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    _show(browser, page, 1280)
    assert browser.title == "hyperret-eval leaderboard"

    # The published numbers, as the page shows them.
    sts12 = main_score(minilm_folder(minilm_run_results) / "STS12.json")
    scifact = main_score(minilm_folder(minilm_run_results) / "SciFact.json")
    models = _column(browser, "board-STS", "Model")
    assert models == [HICL, MINILM_NAME, EVIL]  # best average first
    assert _column(browser, "board-STS", "STS12")[1] == f"{100 * sts12:.2f}"
    assert _column(browser, "board-Retrieval", "SciFact") == [f"{100 * scifact:.2f}", f"{100 * (scifact - 0.04):.2f}"]
    # Each score over its difference to the baseline (minilm) on the task.
    hicl_cell = browser.find_elements(By.CSS_SELECTOR, "#board-STS tbody tr[data-order]")[0].find_elements(By.TAG_NAME, "td")[1]
    assert hicl_cell.text.splitlines() == [f"{100 * (sts12 + 0.03):.2f}", "+3.00"]

    # Sorting: a score column sorts best first, then reverses; the model column by name.
    _click_header(browser, "board-STS", "STS12")
    assert _column(browser, "board-STS", "Model") == [HICL, MINILM_NAME, EVIL]
    _click_header(browser, "board-STS", "STS12")
    assert _column(browser, "board-STS", "Model") == [EVIL, MINILM_NAME, HICL]
    scores = [float(v) for v in _column(browser, "board-STS", "STS12")]
    assert scores == sorted(scores)
    _click_header(browser, "board-Retrieval", "SciFact")
    assert _column(browser, "board-Retrieval", "Model") == [MINILM_NAME, EVIL]
    _click_header(browser, "board-Retrieval", "SciFact")
    assert _column(browser, "board-Retrieval", "Model") == [EVIL, MINILM_NAME]
    _click_header(browser, "board-STS", "Model")
    ascending = _column(browser, "board-STS", "Model")
    _click_header(browser, "board-STS", "Model")
    assert _column(browser, "board-STS", "Model") == ascending[::-1] != ascending

    # The script-tag name is text, and nothing ran.
    names = [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#board-STS td.model .name")]
    assert EVIL in names
    assert browser.execute_script("return window.__alerts") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (reading it is the check)

    # A model's size and zero-shot flag beside its scores (from its model_meta.json).
    assert _column(browser, "board-STS", "Parameters") == ["22.7M"] * 3
    assert _column(browser, "board-STS", "Zero-shot") == ["yes"] * 3

    # Details of a model, across the whole table, kept under their row by sorting: its
    # reference, its recipe checkpoint and the command that produced the scores.
    (hicl_row,) = [row for row in browser.find_elements(By.CSS_SELECTOR, "#board-STS tbody tr[data-order]")
                   if row.find_element(By.CSS_SELECTOR, ".name").text == HICL]
    hicl_row.find_element(By.CSS_SELECTOR, "button.toggle").click()
    details = browser.find_element(By.ID, hicl_row.get_attribute("data-details"))
    assert details.is_displayed()
    text = details.text
    assert "0123456789ab" in text and "hyperret-eval run --tasks STS12,SciFact" in text and "cpu" in text
    assert details.find_element(By.CSS_SELECTOR, "a.reference").get_attribute("href").startswith("https://huggingface.co/")
    assert details.size["width"] == browser.find_element(By.ID, "board-STS").size["width"]
    _click_header(browser, "board-STS", "STS12")
    rows = browser.find_elements(By.CSS_SELECTOR, "#board-STS tbody tr")
    at = [r.get_attribute("data-details") for r in rows].index(details.get_attribute("id"))
    assert rows[at + 1].get_attribute("id") == details.get_attribute("id")

    # Per-task charts: an axis fitted to the scores, not from 0 (a 3-point difference
    # spans most of the strip), the baseline's score as a dashed line through its dot.
    (sts12_chart,) = [f for f in browser.find_elements(By.CSS_SELECTOR, "#charts-STS figure")
                      if f.find_element(By.TAG_NAME, "figcaption").text == "STS12"]
    dots = sts12_chart.find_elements(By.CSS_SELECTOR, "svg.strip circle")
    assert len(dots) == 3
    xs = [d.rect["x"] + d.rect["width"] / 2 for d in dots]
    strip = sts12_chart.find_element(By.CSS_SELECTOR, "svg.strip").rect
    assert max(xs) - min(xs) > 0.7 * strip["width"]
    ticks = [float(t.text) for t in sts12_chart.find_elements(By.CSS_SELECTOR, "svg.axis text")]
    assert len(ticks) >= 3 and min(ticks) > 0 and max(ticks) - min(ticks) < 20  # around the 7 points of scores
    baseline = sts12_chart.find_element(By.CSS_SELECTOR, ".dot-row.baseline line.baseline-line").rect
    assert abs(baseline["x"] - xs[1]) < 1.5  # minilm, the middle score
    values = [v.text for v in sts12_chart.find_elements(By.CSS_SELECTOR, ".dot-value")][:3]
    assert [v[:5] for v in values] == [f"{100 * (sts12 + 0.03):.2f}", f"{100 * sts12:.2f}", f"{100 * (sts12 - 0.04):.2f}"]
    differences = [d.text for d in sts12_chart.find_elements(By.CSS_SELECTOR, ".dot-value .difference")]
    assert differences == ["+3.00", "", "-4.00"]
    assert browser.execute_script(OVERFLOWING, ".dot-label, .dot-value") == []
    assert browser.execute_script(OUTSIDE, "#charts-STS", ".dot-label, svg.axis text") == []

    # Search trade-off: a colour per corpus, a line per corpus and kind of search along
    # its Pareto front, the whole legend, and a table that sorts.
    chart = "#tradeoff-chart"
    fills = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll(arguments[0]), function (c) {"
        " return c.getAttribute('class').split(' ')[1] + '=' + getComputedStyle(c).fill; });",
        f"{chart} > svg circle.point")
    colours = dict(f.split("=") for f in fills)
    assert len(colours) == 2 and len(set(colours.values())) == 2
    fronts = browser.find_elements(By.CSS_SELECTOR, f"{chart} > svg polyline.front")
    assert sorted(len(f.get_attribute("points").split()) for f in fronts) == [1, 1, 2, 2]
    assert len(browser.find_elements(By.CSS_SELECTOR, f"{chart} > svg circle.point.beaten")) == 1
    assert [li.text for li in browser.find_elements(By.CSS_SELECTOR, f"{chart} ul.legend li")] == [
        "SciFact, exhaustive", "SciFact, ip graph", "synthetic-100000, exhaustive", "synthetic-100000, l2 graph"]
    assert browser.execute_script(OVERFLOWING, f"{chart} ul.legend li") == []
    assert browser.execute_script(OUTSIDE, chart, "ul.legend li, svg text") == []
    _click_header(browser, "tradeoff-table", "Queries/s")
    speeds = [float(v) for v in _column(browser, "tradeoff-table", "Queries/s")]
    assert speeds == sorted(speeds, reverse=True) and len(speeds) == 7
    assert _column(browser, "tradeoff-table", "On the front").count("no") == 1

    assert browser.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    _screenshot(browser, tmp_path / "leaderboard-1280.png")


def test_page_at_phone_width(browser, page, tmp_path):
    """390 CSS pixels wide: the page does not scroll sideways (a wide table scrolls in its
    own box), names wrap only after a "/" or at a hyphen, and chart labels are whole."""
    from selenium.webdriver.common.by import By

    _show(browser, page, 390)
    assert browser.execute_script("return window.innerWidth") == 390
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    boxes = browser.find_elements(By.CSS_SELECTOR, ".table-scroll")
    assert boxes and all(box.size["width"] <= 390 for box in boxes)
    browser.find_element(By.CSS_SELECTOR, "#board-STS button.toggle").click()
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    details = browser.find_element(By.CSS_SELECTOR, "#board-STS tr.details-row:not([hidden]) .details")
    assert details.rect["x"] >= 0 and details.rect["x"] + details.rect["width"] <= 390

    # (The script-tag name has no words to keep whole.)
    wraps = browser.execute_script(WRAPS_AFTER, "td.model .name, .dot-label, ul.legend li", EVIL)
    assert all(wrap[0] in "/-," for wrap in wraps), wraps
    assert wraps  # long names do wrap
    assert browser.execute_script(OVERFLOWING, ".dot-label, .dot-value, ul.legend li") == []
    for charts in ("#charts-STS", "#charts-Retrieval", "#tradeoff-chart"):
        assert browser.execute_script(OUTSIDE, charts, ".dot-label, .dot-value, svg text, ul.legend li") == []
        assert browser.find_element(By.CSS_SELECTOR, charts).rect["width"] <= 390
    _screenshot(browser, tmp_path / "leaderboard-390.png")


def test_page_at_420_pixels_does_not_scroll_sideways(browser, page):
    """Between a phone and a tablet: every wide table scrolls in its own box, the page not at all."""
    _show(browser, page, 420)
    assert browser.execute_script("return window.innerWidth") == 420
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 420
