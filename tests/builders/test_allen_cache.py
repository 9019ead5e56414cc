"""A complete allensdk cache downloaded from a local mirror (127.0.0.1) builds the same dataset as local files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from http_server import ServerState, serve
from PIL import Image

from neurrator_bench.builders.allen_cache import CACHE_TABLES, MOVIE_TEMPLATES, download_cache, scene_templates
from neurrator_bench.builders.build import build_dataset
from neurrator_bench.builders.download import part_path, read_checksums
from neurrator_bench.builders.stimulus_bundle import load_allen_templates, load_stimulus_bundle
from neurrator_bench.schemas.dataset import WindowSpec

FC_ID = 9009999999
TASK = "nm1-contiguous-middle"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _tiff(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="TIFF")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def mirror(sim_dir: Path, tmp_path_factory) -> tuple[Path, dict[str, bytes], int]:
    """A cache tree of one simulated session on disk (``local``) and as served bytes (relative path -> bytes).

    The tables are the simulator's sessions.csv plus a functional-connectivity row, and small probes /
    channels / units tables; the templates are the simulated frames in Allen's formats (.npy bytes in
    ``natural_movie_<n>.h5``, 8-bit TIFF scenes).
    """
    local = tmp_path_factory.mktemp("mirror")
    sessions = pd.read_csv(sim_dir / "sessions.csv")
    sid = int(sessions["id"].iloc[0])
    fc = sessions.iloc[[0]].assign(id=FC_ID, session_type="functional_connectivity")
    files: dict[str, bytes] = {
        "sessions.csv": pd.concat([sessions, fc]).to_csv(index=False).encode(),
        "probes.csv": b"id,ecephys_session_id,name\n1,%d,probeA\n" % sid,
        "channels.csv": b"id,ecephys_probe_id,local_index\n10,1,0\n",
        "units.csv": b"id,ecephys_channel_id,quality\n100,10,good\n",
        f"session_{sid}/session_{sid}.nwb": (sim_dir / f"session_{sid}" / f"session_{sid}.nwb").read_bytes(),
    }
    bundle = load_stimulus_bundle(sim_dir / "stimuli")
    files[MOVIE_TEMPLATES[0]] = _npy(bundle["natural_movie_one"].frames)
    files[MOVIE_TEMPLATES[1]] = _npy(bundle["natural_movie_three"].frames)
    scenes = bundle["natural_scenes"].frames
    for rel, image in zip(scene_templates(len(scenes)), scenes, strict=True):
        files[rel] = _tiff(image)
    for rel, data in files.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(data)
    return local, files, sid


def _state(files: dict[str, bytes]) -> ServerState:
    return ServerState(files={f"/ecephys-cache/{rel}": data for rel, data in files.items()})


def test_download_builds_the_same_dataset_resumes_and_refetches_corruption(mirror, sim_dir, tmp_path):
    local, files, sid = mirror
    n_scenes = sum(rel.startswith("natural_scene_templates/") for rel in files)
    state = _state(files)
    cache = tmp_path / "cache"
    nwb_rel = f"session_{sid}/session_{sid}.nwb"
    # an earlier run was killed half-way through the session file: its .part holds the first half
    half = len(files[nwb_rel]) // 2
    part = part_path(cache / nwb_rel)
    part.parent.mkdir(parents=True)
    part.write_bytes(files[nwb_rel][:half])
    with serve(state) as base:
        paths = download_cache([sid], cache, base_url=f"{base}/ecephys-cache", n_scenes=n_scenes)
        assert paths == [cache / nwb_rel]
        # the session file resumed from byte `half` with one Range request
        nwb_requests = [entry for entry in state.log if entry[0].endswith(".nwb")]
        assert nwb_requests == [(f"/ecephys-cache/{nwb_rel}", f"bytes={half}-", 206, len(files[nwb_rel]) - half)]
        for rel, data in files.items():
            assert (cache / rel).read_bytes() == data, rel
        recorded = read_checksums(cache)
        assert set(recorded) == set(files) and not list(cache.rglob("*.part"))
        manifest = json.loads((cache / "manifest.json").read_text())
        assert {e["spec"] for e in manifest["manifest"]} >= {*CACHE_TABLES, "natural_movie_%d.h5"}

        # a corrupted template is detected against checksums.json and fetched again; nothing else moves
        (cache / MOVIE_TEMPLATES[1]).write_bytes(b"bitrot")
        state.log.clear()
        download_cache([sid], cache, base_url=f"{base}/ecephys-cache", n_scenes=n_scenes)
        assert [entry[0] for entry in state.log] == [f"/ecephys-cache/{MOVIE_TEMPLATES[1]}"]

        # a functional-connectivity session is refused after the tables, before any session transfer
        state.log.clear()
        with pytest.raises(ValueError, match=rf"{FC_ID} \(functional_connectivity\).*--sessions bo11-all"):
            download_cache([FC_ID], tmp_path / "fc", base_url=f"{base}/ecephys-cache", n_scenes=n_scenes)
        assert sorted(entry[0].rsplit("/", 1)[1] for entry in state.log) == sorted(CACHE_TABLES)

    templates = load_allen_templates(cache)
    bundle = load_stimulus_bundle(sim_dir / "stimuli")
    for name in ("natural_movie_one", "natural_movie_three", "natural_scenes"):
        np.testing.assert_array_equal(templates[name].frames, bundle[name].frames)

    # the downloaded cache and the local tree give the same dataset (one task, stride 4 to stay fast)
    window = WindowSpec(stride=4)
    common = {"stimuli_dir": sim_dir / "stimuli", "window": window, "tasks": [TASK]}
    downloaded = build_dataset([cache], tmp_path / "from-download", **common)
    built_locally = build_dataset([local], tmp_path / "from-local", **common)
    assert downloaded.manifest.fingerprint == built_locally.manifest.fingerprint
    assert downloaded.manifest.split_sizes == built_locally.manifest.split_sizes
    assert downloaded.manifest.split_sizes[TASK]["test"] > 0


def test_build_command_downloads_from_a_mirror(mirror, sim_dir, tmp_path):
    from click.testing import CliRunner

    from neurrator_bench.cli import main

    _local, files, sid = mirror
    n_scenes = sum(rel.startswith("natural_scene_templates/") for rel in files)
    assert n_scenes == 118  # the CLI fetches Allen's 118 scene templates
    cache, out = tmp_path / "cache", tmp_path / "ds"
    with serve(_state(files)) as base:
        args = ["build", "--download", str(sid), "--cache", str(cache), "--cache-url", f"{base}/ecephys-cache"]
        args += ["--stimuli", str(sim_dir / "stimuli"), "--task", TASK, "--stride", "4", "--out", str(out)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert (cache / MOVIE_TEMPLATES[0]).read_bytes() == files[MOVIE_TEMPLATES[0]]
        assert f"{TASK}: train=" in result.output
        refused = CliRunner().invoke(
            main,
            ["build", "--download", str(FC_ID), "--cache", str(tmp_path / "c2"), "--cache-url", f"{base}/ecephys-cache"]
            + ["--out", str(tmp_path / "ds2")],
        )
    assert refused.exit_code != 0 and "functional_connectivity" in refused.output
    usage = CliRunner().invoke(main, ["build", "--nwb", str(sim_dir), "--cache-url", "x", "--out", str(tmp_path / "d")])
    assert usage.exit_code != 0 and "--cache-url / --no-templates only apply" in usage.output


def test_dandi_with_cache_downloads_tables_and_templates_but_no_session_file(mirror, sim_dir, tmp_path, monkeypatch):
    """`build --dandi ... --cache DIR`: sessions stream; DIR gets Allen's tables and templates and is the stimuli."""
    from click.testing import CliRunner
    from test_dandi_stream import _archive, _serve_archive

    from neurrator_bench.builders import build as build_module
    from neurrator_bench.cli import main

    _local, files, sid = mirror
    seen = {}

    def stop_before_building(inputs, out, **options):
        seen.update(inputs=inputs, **options)
        raise ValueError("stopped before building")

    monkeypatch.setattr(build_module, "build_dataset", stop_before_building)
    state, data, assets = _archive(sim_dir, sid)
    state.files.update(_state(files).files)
    cache = tmp_path / "cache"
    with serve(state) as base:
        api = _serve_archive(state, base, data, assets)
        args = ["build", "--dandi", "000021", "--session", str(sid), "--dandi-api", api, "--cache", str(cache)]
        result = CliRunner().invoke(main, [*args, "--cache-url", f"{base}/ecephys-cache", "--out", str(tmp_path / "d")])
        fetched = {path for path, *_ in state.log}
    assert result.exit_code != 0 and "stopped before building" in result.output
    assert seen["stimuli_dir"] == cache and seen["inputs"] == []
    assert [r.url for r in seen["remote"]] == [f"{base}/bucket/blobs/a-1"]
    assert (cache / MOVIE_TEMPLATES[0]).read_bytes() == files[MOVIE_TEMPLATES[0]]
    assert (cache / "sessions.csv").is_file() and not list(cache.rglob("*.nwb"))
    assert f"/ecephys-cache/session_{sid}/session_{sid}.nwb" not in fetched
    assert load_allen_templates(cache)["natural_movie_one"].frames.shape[0] > 0

    def usage(*extra: str) -> str:
        out = CliRunner().invoke(main, ["build", *extra, "--out", str(tmp_path / "u")])
        assert out.exit_code != 0
        return out.output

    dandi = ["--dandi", "000021", "--session", str(sid)]
    assert "the stimulus templates (for targets and captions) are not in the session files" in usage(*dandi)
    assert "--no-templates does not apply with --dandi" in usage(*dandi, "--cache", "c", "--no-templates")
    assert "--cache-url only applies with --cache DIR" in usage(*dandi, "--stimuli", str(cache), "--cache-url", "x")
    assert "--dandi-version only apply with --dandi" in usage("--nwb", str(sim_dir), "--dandi-version", "0.1")
    assert "either --cache DIR (downloads the templates) or --stimuli" in usage(
        *dandi, "--cache", "c", "--stimuli", str(cache)
    )
    assert "--cache only applies with --download, --sessions or --dandi" in usage("--nwb", str(sim_dir), "--cache", "c")
