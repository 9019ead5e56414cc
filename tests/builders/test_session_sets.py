from __future__ import annotations

import pytest
from click.testing import CliRunner

from neurrator_bench.builders.session_sets import (
    check_natural_stimulus_sessions,
    cre_line,
    read_session_table,
    resolve_session_set,
)

FC_SESSION = 766640955  # a functional_connectivity session of Allen's table


def test_paper_16_is_the_5_6_5_cre_line_cohort_of_bo11():
    table = read_session_table().set_index("id")
    ids = resolve_session_set("paper-16")
    assert len(ids) == 16 == len(set(ids))
    lines = [cre_line(g) for g in table.loc[ids, "full_genotype"]]
    assert {line: lines.count(line) for line in set(lines)} == {"Pvalb": 5, "Sst": 6, "Vip": 5}
    assert set(table.loc[ids, "session_type"]) == {"brain_observatory_1.1"}
    # the real-data track's session (a Vip mouse) is one of them; a wild-type BO1.1 session is not
    assert 791319847 in ids and 732592105 not in ids


def test_bo11_all_and_errors():
    ids = resolve_session_set("bo11-all")
    assert len(ids) == 32 and set(resolve_session_set("paper-16")) < set(ids)
    table = read_session_table()
    assert table.loc[table["id"] == FC_SESSION, "session_type"].item() == "functional_connectivity"
    with pytest.raises(KeyError, match="paper-16, bo11-all"):
        resolve_session_set("paper-17")
    one_sst_less = table[table["id"] != 715093703]
    with pytest.raises(ValueError, match=r"'Sst': 5"):
        resolve_session_set("paper-16", one_sst_less)
    types = dict(zip(table["id"], table["session_type"], strict=True))
    check_natural_stimulus_sessions(ids, types, where="shipped")
    with pytest.raises(ValueError, match=rf"{FC_SESSION} \(functional_connectivity\).*shipped"):
        check_natural_stimulus_sessions([ids[0], FC_SESSION], types, where="shipped")
    with pytest.raises(ValueError, match=r"\[123\]: not in the session table"):
        check_natural_stimulus_sessions([123], types, where="shipped")


def test_raw_cache_table_with_genotype_column(tmp_path):
    raw = read_session_table().rename(columns={"full_genotype": "genotype"})
    raw.to_csv(tmp_path / "sessions.csv", index=False)
    assert resolve_session_set("paper-16", read_session_table(tmp_path / "sessions.csv")) == resolve_session_set(
        "paper-16"
    )
    raw.drop(columns=["genotype"]).to_csv(tmp_path / "bare.csv", index=False)
    with pytest.raises(ValueError, match=r"bare\.csv: session table lacks column\(s\) \['full_genotype'\]"):
        read_session_table(tmp_path / "bare.csv")


def test_sessions_command_lists_a_set():
    from neurrator_bench.cli import main

    result = CliRunner().invoke(main, ["sessions", "paper-16"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("16 sessions in paper-16")
    assert "791319847\tVip-IRES-Cre" in result.output
    bad = CliRunner().invoke(main, ["sessions", "nope"])
    assert bad.exit_code != 0 and "paper-16" in bad.output
