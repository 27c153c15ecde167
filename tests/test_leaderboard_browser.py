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


@pytest.fixture
def page(capsys, minilm_run_results, tmp_path) -> Path:
    """index.html of minilm, a better recipe model (STS12 only), and a worse one whose name is a script tag."""
    results = copy_results(minilm_run_results, tmp_path / "results")
    derive_model(results, "hyperret__hicl-minilm-l6", HICL, "0123456789ab", source="recipe", score_shift=0.03,
                 tasks=("STS12",))
    derive_model(results, EVIL.replace("/", "__"), EVIL, "rev1", score_shift=-0.04)  # the folder mteb would use
    bench = tmp_path / "bench.json"
    write_json(bench, {"search_tradeoff": [
        {"corpus": "SciFact", "method": "exhaustive", "settings": "all passages", "queries_per_second": 35.0,
         "recall_at_10": 1.0, "ndcg_at_10": 0.645},
        {"corpus": "SciFact", "method": "graph", "settings": "ef=16", "queries_per_second": 900.0,
         "recall_at_10": 0.84, "ndcg_at_10": 0.61},
        {"corpus": "SciFact", "method": "graph", "settings": "ef=64", "queries_per_second": 410.5,
         "recall_at_10": 0.96, "ndcg_at_10": 0.64},
    ]})
    code = main(["publish", str(results), "--leaderboard", str(tmp_path / "leaderboard"), "--benchmarks", str(bench)])
    assert code == 0, capsys.readouterr().err
    return tmp_path / "leaderboard" / "index.html"


def _column(driver, table_id: str, header: str) -> list[str]:
    from selenium.webdriver.common.by import By

    headers = [th.text.strip() for th in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")]
    index = headers.index(header)
    return [row.find_elements(By.TAG_NAME, "td")[index].text.strip()
            for row in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")]


def _click_header(driver, table_id: str, header: str) -> None:
    from selenium.webdriver.common.by import By

    for th in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th"):
        if th.text.strip() == header:
            th.find_element(By.TAG_NAME, "button").click()
            return
    raise AssertionError(f"no header {header!r} in #{table_id}")


def test_page_in_headless_chromium(browser, page, minilm_run_results, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    assert browser.title == "hyperret-eval leaderboard"

    # The published numbers, as the page shows them.
    sts12 = main_score(minilm_folder(minilm_run_results) / "STS12.json")
    scifact = main_score(minilm_folder(minilm_run_results) / "SciFact.json")
    models = _column(browser, "board-STS", "Model")
    assert models == [HICL, MINILM_NAME, EVIL]  # best average first
    assert _column(browser, "board-STS", "STS12")[1] == f"{100 * sts12:.2f}"
    assert _column(browser, "board-Retrieval", "SciFact") == [f"{100 * scifact:.2f}", f"{100 * (scifact - 0.04):.2f}"]

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
    summaries = [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#board-STS td.model summary")]
    assert EVIL in summaries
    assert browser.execute_script("return window.__alerts") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (reading it is the check)

    # Details of a model: its recipe checkpoint and the command that produced the scores.
    (hicl_row,) = [row for row in browser.find_elements(By.CSS_SELECTOR, "#board-STS tbody tr")
                   if row.find_element(By.TAG_NAME, "summary").text == HICL]
    hicl_row.find_element(By.TAG_NAME, "summary").click()
    details = hicl_row.find_element(By.CSS_SELECTOR, ".provenance").text
    assert "0123456789ab" in details and "hyperret-eval run --tasks STS12,SciFact" in details and "cpu" in details

    # Charts: one bar chart per task, and the search trade-off with one point per setting.
    assert len(browser.find_elements(By.CSS_SELECTOR, "#charts-STS figure svg")) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#charts-Retrieval figure svg")) == 1
    bars = browser.find_elements(By.CSS_SELECTOR, "#charts-STS rect.bar")
    assert len(bars) == 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tradeoff-chart svg circle")) == 3 + 2  # points + legend

    screenshot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 10_000
