"""Every command answers --help; errors exit non-zero with the library's message."""

import click
import pytest
from click.testing import CliRunner

from neurrator_bench.cli import main


def all_commands(group: click.Group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, (*prefix, name))


COMMANDS = list(all_commands(main))


def test_expected_commands_exist():
    names = {" ".join(c) for c in COMMANDS}
    assert {
        "simulate",
        "build",
        "tasks",
        "train",
        "narrate",
        "score",
        "evaluate",
        "scaling",
        "realdata",
        "baselines run",
        "leaderboard validate",
        "leaderboard build",
        "leaderboard submit",
        "compare",
        "demo",
    } <= names


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_tasks_lists_rules():
    result = CliRunner().invoke(main, ["tasks"])
    assert result.exit_code == 0 and "nm1-contiguous-middle (v2" in result.output and "250..449" in result.output


def test_tasks_with_a_dataset_prints_its_sizes_and_guard_drops(built_dataset):
    import json

    m = json.loads((built_dataset / "neurrator_manifest.json").read_text())
    result = CliRunner().invoke(main, ["tasks", "--dataset", str(built_dataset)])
    assert result.exit_code == 0, result.output
    guard = sum(d.get("guard:nm1-contiguous-middle", 0) for d in m["dropped"].values())
    assert guard > 0 and f"dropped by the guard band: {guard};" in result.output
    sid, n = next(iter(m["test_sizes_by_session"]["nm1-contiguous-middle"].items()))
    assert f"{sid}={n}" in result.output


def test_build_error_exits_nonzero(tmp_path):
    result = CliRunner().invoke(main, ["build", "--out", str(tmp_path / "ds"), "--download", "1"])
    assert result.exit_code != 0 and "--download / --sessions need --cache" in result.output
    result = CliRunner().invoke(main, ["build", "--out", str(tmp_path / "ds")])
    assert result.exit_code != 0 and "nothing to build" in result.output


def test_leaderboard_validate_reports_bad_entry(tmp_path):
    bad = tmp_path / "results" / "m" / "main"
    bad.mkdir(parents=True)
    (bad / "nm1-front-only.json").write_text('{"schema_version": 1, "metrics": [{"value": NaN}]}')
    result = CliRunner().invoke(main, ["leaderboard", "validate", str(tmp_path / "results")])
    assert result.exit_code != 0 and "nm1-front-only.json" in result.output
