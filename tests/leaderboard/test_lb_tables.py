"""Downloads and permalinks of the site: every table as CSV and JSON, in page order; stable entry anchors."""

from __future__ import annotations

import csv
import json
import re

from neurrator_bench.leaderboard.site import build_site
from neurrator_bench.leaderboard.store import load_entries
from neurrator_bench.leaderboard.tables import csv_value, entry_permalink, to_csv
from tests.leaderboard.entries import EVIL, TASKS, write_valid_set


def test_csv_cells_never_run_as_formulas():
    assert csv_value('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert [csv_value(v) for v in ("+A1", "-A1+1", "@SUM(A1)", "\tx", "plain", "")] == [
        "'+A1",
        "'-A1+1",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        "",
    ]
    # not formulas: a lone "-" (no narrator) and text that is a plain number
    assert [csv_value(v) for v in ("-", "-0.5", "+3")] == ["-", "-0.5", "+3"]
    assert [csv_value(v) for v in (-0.5, 3, None, True)] == [-0.5, 3, "", True]
    text = to_csv([{"a": "=1", "b": -2.5}, {"a": EVIL, "c": 1}])
    assert list(csv.reader(text.splitlines())) == [["a", "b", "c"], ["'=1", "-2.5", ""], [EVIL, "", "1"]]


def test_every_table_downloads_in_page_order_and_anchors_are_stable(tmp_path):
    write_valid_set(tmp_path / "results", evil=True)
    index = build_site(tmp_path / "results", tmp_path / "site")
    site = index.parent
    html = index.read_text()
    sections = re.findall(r"<section class='board' data-board='([^']*)'>(.*?)</section>", html, flags=re.S)
    assert [name for name, _ in sections] == list(TASKS)
    for _, body in sections:
        (csv_href,) = re.findall(r'<a class="csv" href="([^"]+)" download>', body)
        (json_href,) = re.findall(r'<a class="json" href="([^"]+)" download>', body)
        rows = list(csv.DictReader((site / csv_href).open(encoding="utf-8")))
        data = json.loads((site / json_href).read_text())
        anchors = re.findall(r'<a class="permalink" href="[^"#]+#([^"]+)">entry</a>', body)
        # one download row per page row, in page order, pointing at the same entry
        assert len(rows) == len(data["rows"]) == len(anchors) > 0
        assert [r["permalink"].split("#")[1] for r in rows] == anchors
        assert [r["model"] for r in data["rows"]] == [r["model"] for r in rows]
    # every entry: one row each, and each permalink names a section that exists on its model page
    stored = load_entries(tmp_path / "results")
    every = json.loads((site / "tables" / "entries.json").read_text())["rows"]
    assert len(every) == len(stored)
    for row in every:
        page, anchor = row["permalink"].split("#")
        assert f"id='{anchor}'" in (site / page).read_text()
        source = tmp_path / "results" / row["entry_json"].removeprefix("entries/")
        assert (site / row["entry_json"]).read_text() == source.read_text()
    # permalinks: one per entry (an anchor is unique within its model's page), and the same on a rebuild
    links = [entry_permalink(s) for s in stored]
    assert len(set(links)) == len(links)
    build_site(tmp_path / "results", tmp_path / "site")
    assert [entry_permalink(s) for s in load_entries(tmp_path / "results")] == links
    assert json.loads((site / "tables" / "entries.json").read_text())["rows"] == every
    # the planted payload is text everywhere: escaped in HTML, verbatim in the downloads
    assert EVIL not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert any(r["kind"] == EVIL for r in every)
