"""The built site in a real headless Chromium, opened from disk (file://): loads, sorts, escapes, links.

Needs Debian's ``chromium`` and ``chromium-driver`` packages (/usr/bin/chromium, /usr/bin/chromedriver).
Without them this test FAILS on purpose: CI installs them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.leaderboard.entries import EVIL, TASKS, write_valid_set

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from neurrator_bench.leaderboard.site import build_site

    root = tmp_path_factory.mktemp("browser")
    write_valid_set(root / "results", evil=True)
    return build_site(root / "results", root / "site", title="neurrator-bench leaderboard").parent


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(
            f"browser test needs {', '.join(missing)}: install the Debian packages 'chromium' and "
            "'chromium-driver' (apt-get install -y chromium chromium-driver)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    profile = tmp_path_factory.mktemp("chrome-profile")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(20)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


def column(table, index: int) -> list[str]:
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in rows]


def assert_no_alert(driver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 (the property access is the check)


def assert_no_console_errors(driver) -> None:
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_index_loads_sorts_and_escapes(driver, site: Path) -> None:
    driver.get((site / "index.html").as_uri())
    assert driver.title == "neurrator-bench leaderboard"
    tables = driver.find_elements(By.CSS_SELECTOR, "table.leaderboard")
    assert [t.get_attribute("data-task") for t in tables] == list(TASKS)
    nm1 = tables[0]
    assert len(nm1.find_elements(By.CSS_SELECTOR, "tbody tr")) == 6
    ranked = ["neurrator/reference", "neurrator/reference", "evil-model", "ridge", "pca-knn", "retrieval-only"]
    assert column(nm1, 2) == ranked
    # v1 is significantly below v2 (both have frame tables); the rows after have none to pair with
    assert column(nm1, 1) == ["", "", "not paired", "not paired", "not paired", "not paired"]
    assert column(nm1, 4) == ["retrieval", "retrieval", f"llava ({EVIL})", "retrieval", "retrieval", "-"]

    model_header = nm1.find_elements(By.CSS_SELECTOR, "thead th")[2]
    model_header.click()
    assert model_header.get_attribute("aria-sort") == "ascending"
    assert column(nm1, 2) == sorted(ranked)
    model_header.click()
    assert model_header.get_attribute("aria-sort") == "descending"
    assert column(nm1, 2) == sorted(ranked, reverse=True)

    params_header = nm1.find_elements(By.CSS_SELECTOR, "thead th")[-2]
    assert params_header.text.startswith("parameters")
    params_header.click()  # numeric, ascending; the model without a count ("-") sorts last
    assert column(nm1, -2) == ["1.0k", "1.0k", "480.0k", "12.3M", "12.3M", "-"]
    assert model_header.get_attribute("aria-sort") is None
    params_header.click()
    assert column(nm1, -2) == ["12.3M", "12.3M", "480.0k", "1.0k", "1.0k", "-"]

    assert EVIL in driver.find_element(By.TAG_NAME, "body").text  # literal text
    assert EVIL in [cell.text for cell in nm1.find_elements(By.CSS_SELECTOR, "tbody td")]
    assert driver.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    assert_no_alert(driver)
    assert_no_console_errors(driver)


def test_detail_page_link_and_plots(driver, site: Path) -> None:
    driver.get((site / "index.html").as_uri())
    driver.find_element(By.LINK_TEXT, "neurrator/reference").click()
    assert driver.current_url.endswith("/models/neurrator__reference.html")
    assert driver.find_element(By.TAG_NAME, "h1").text == "neurrator/reference"
    images = driver.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(images) >= 3  # scaling, per-frame, similarity
    assert all(driver.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images)
    assert "sbert_delta_word_salad" in driver.find_element(By.TAG_NAME, "body").text
    driver.find_element(By.PARTIAL_LINK_TEXT, "neurrator-bench leaderboard").click()
    assert driver.current_url.endswith("/index.html")
    assert_no_console_errors(driver)


def test_evil_detail_page_shows_text_only(driver, site: Path) -> None:
    driver.get((site / "models/evil-model.html").as_uri())
    body = driver.find_element(By.TAG_NAME, "body").text
    assert body.count(EVIL) >= 3 and "javascript:alert(1)" in body
    assert driver.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    assert driver.find_elements(By.CSS_SELECTOR, 'a[href^="javascript"]') == []
    assert_no_alert(driver)
    assert_no_console_errors(driver)
