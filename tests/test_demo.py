"""The README's main job (slow: ~7 minutes on 2 cores; run with `pytest -m slow`)."""

import pytest

from neurrator_bench.demo import run_demo
from neurrator_bench.leaderboard.validate import validate_results


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    lines = []
    result = run_demo(tmp_path / "demo", seed=0, echo=lines.append)
    assert result.site_index.exists() and result.markdown.exists()
    assert validate_results(result.results) == []
    assert [line.split(":")[0] for line in lines][:3] == [
        "[demo] simulate 3 sessions",
        "[demo] build dataset",
        "[demo] regime table (3 regimes)",
    ]
    assert "neurrator-reference" in result.compare_text
