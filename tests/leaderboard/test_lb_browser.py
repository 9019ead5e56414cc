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
    downloads = tmp_path_factory.mktemp("downloads")
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(20)
    browser.download_dir = downloads
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

    params_header = nm1.find_elements(By.CSS_SELECTOR, "thead th")[-3]
    assert params_header.text.startswith("parameters")
    params_header.click()  # numeric, ascending; the model without a count ("-") sorts last
    assert column(nm1, -3) == ["1.0k", "1.0k", "480.0k", "12.3M", "12.3M", "-"]
    assert model_header.get_attribute("aria-sort") is None
    params_header.click()
    assert column(nm1, -3) == ["12.3M", "12.3M", "480.0k", "1.0k", "1.0k", "-"]

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


def visible_rows(driver, container: str) -> list:
    return [r for r in driver.find_elements(By.CSS_SELECTOR, f"#{container} tr[data-row]") if r.is_displayed()]


def choose(driver, key: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.CSS_SELECTOR, f'select[data-key="{key}"]')).select_by_value(value)


def test_filters_narrow_rows_and_boards(driver, site: Path) -> None:
    driver.get((site / "index.html").as_uri())
    every = visible_rows(driver, "boards")
    assert len(every) == len(driver.find_elements(By.CSS_SELECTOR, "#boards tr[data-row]")) == 10  # 6 + 4 rows
    choose(driver, "narrator", "retrieval")
    shown = visible_rows(driver, "boards")
    assert 0 < len(shown) < len(every)
    assert {r.get_attribute("data-narrator") for r in shown} == {"retrieval"}
    assert driver.find_element(By.CSS_SELECTOR, ".filter-count").text == f"{len(shown)} of {len(every)} rows shown"
    choose(driver, "board", TASKS[1])
    sections = driver.find_elements(By.CSS_SELECTOR, "section.board")
    assert [s.get_attribute("data-board") for s in sections if s.is_displayed()] == [TASKS[1]]
    assert {r.get_attribute("data-board") for r in visible_rows(driver, "boards")} == {TASKS[1]}
    choose(driver, "narrator", "")
    choose(driver, "board", "")
    assert len(visible_rows(driver, "boards")) == len(every)
    # a planted payload as a filter value: an option whose text is the payload, matched as text
    choose(driver, "narrator", f"llava ({EVIL})")
    (row,) = visible_rows(driver, "boards")
    assert row.get_attribute("data-narrator") == f"llava ({EVIL})"
    assert driver.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    assert_no_alert(driver)
    assert_no_console_errors(driver)


def test_entries_page_filters_subsets(driver, site: Path) -> None:
    driver.get((site / "entries.html").as_uri())
    every = visible_rows(driver, "entries")
    subsets = {r.get_attribute("data-subset") for r in every}
    assert "all units" in subsets and len(subsets) > 1  # the region-subset entries are listed here
    region = sorted(subsets - {"all units"})[0]
    choose(driver, "subset", region)
    shown = visible_rows(driver, "entries")
    assert shown and {r.get_attribute("data-subset") for r in shown} == {region}
    assert EVIL in driver.find_element(By.TAG_NAME, "body").text
    assert driver.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    assert_no_alert(driver)
    assert_no_console_errors(driver)


def test_csv_download_holds_the_rows_of_the_table(driver, site: Path) -> None:
    import csv
    import time

    driver.get((site / "index.html").as_uri())
    section = driver.find_elements(By.CSS_SELECTOR, "section.board")[0]
    link = section.find_element(By.CSS_SELECTOR, "p.downloads a.csv")
    name = Path(link.get_attribute("href")).name
    link.click()
    target = Path(driver.download_dir) / name
    deadline = time.monotonic() + 15
    while not target.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert target.is_file(), sorted(p.name for p in Path(driver.download_dir).iterdir())
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    table = section.find_element(By.CSS_SELECTOR, "table")
    assert [r["model"] for r in rows] == column(table, 2)
    assert [r["rank"] for r in rows] == column(table, 0)  # ranks as shown ("reference level" rows: no rank)
    evil = next(r for r in rows if r["model"] == "evil-model")
    assert evil["kind"] == EVIL  # text in CSV is the text, never markup run anywhere
    assert all(r["permalink"].startswith("models/") for r in rows)


def test_permalink_opens_the_entry(driver, site: Path) -> None:
    driver.get((site / "index.html").as_uri())
    row = next(r for r in visible_rows(driver, "boards") if r.get_attribute("data-narrator") == f"llava ({EVIL})")
    row.find_element(By.CSS_SELECTOR, "a.permalink").click()
    url = driver.current_url
    assert "/models/evil-model.html#entry-" in url
    anchor = url.split("#", 1)[1]
    target = driver.execute_script("return document.querySelector(':target')")
    assert target is not None and target.get_attribute("id") == anchor
    assert EVIL in target.text
    # the link is stable: opened cold it lands on the same section
    driver.get("about:blank")
    driver.get(url)
    assert driver.execute_script("return document.querySelector(':target').id") == anchor
    assert_no_alert(driver)
    assert_no_console_errors(driver)
