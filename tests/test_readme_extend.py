"""The README's "Extend: add a metric" example works as written: one module makes a scored, registered metric."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

DRIVER = textwrap.dedent(
    """
    import numpy as np

    import neurrator_bench.scorers  # registers the shipped metrics first
    from neurrator_bench.scorers.frame_stats import make_clusters
    from neurrator_bench.scorers.metric_registry import METRICS, ScoreInputs
    from neurrator_bench.scoring import ScoringOptions, aggregate, run_metric_groups

    exec(compile(EXAMPLE, "README example", "exec"))

    gallery = np.random.default_rng(0).normal(size=(900, 8))
    frame = np.repeat(np.arange(0, 900, 3), 2)
    stimulus = np.array(["natural_movie_one"] * frame.size)
    session = np.array(["s0"] * frame.size)
    clusters = make_clusters(stimulus, frame, session, movie_stimuli=("natural_movie_one",))
    for label, pred in (("oracle", gallery[frame]), ("noise", np.random.default_rng(1).normal(size=(frame.size, 8)))):
        inputs = ScoreInputs(
            sample_ids=np.array([f"x{i:04d}" for i in range(frame.size)]), stimulus=stimulus, frame=frame,
            session=session, clusters=clusters, movie_stimuli=("natural_movie_one",), embedding=pred,
            galleries={"natural_movie_one": gallery}, n_boot=50,
        )
        values, skipped = run_metric_groups(inputs, {"embedding"})
        result = {v.name: aggregate(v, clusters, frame.size, ScoringOptions(n_boot=50)) for v in values}
        mrr = result["retrieval_mrr"]
        print(label, mrr.value, mrr.ci_low, mrr.ci_high, mrr.n_frames, METRICS.in_order()[-1])
    """
)


def test_readme_metric_example_registers_and_scores():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Extend: add a metric") :]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = f"EXAMPLE = {example!r}\n{DRIVER}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True).stdout
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    oracle = [float(x) for x in lines["oracle"].split()[:3]]
    noise = lines["noise"].split()
    assert oracle == [1.0, 1.0, 1.0]
    assert float(noise[0]) < 0.05 and noise[3] == "300" and noise[4] == "retrieval_mrr"
