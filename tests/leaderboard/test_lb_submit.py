"""submit_results: exact Hub calls on a recording fake api, and the offline bundle."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import OfflineModeIsEnabled

from neurrator_bench.errors import ResultEntryError
from neurrator_bench.leaderboard.submit import offline_errors, submit_results
from neurrator_bench.leaderboard.validate import validate_results
from tests.leaderboard.entries import write_valid_set

REPO = "neurrator/bench-results"
PR_URL = "https://huggingface.co/datasets/neurrator/bench-results/discussions/7"
RIDGE_FILES = (
    "results/ridge/main/nm1-contiguous-middle~retrieval.json",
    "results/ridge/main/scenes-identity-holdout~retrieval.json",
)


class RecordingApi:
    """Records every create_commit call; returns a CommitInfo-like object or raises ``error``."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.calls: list[dict] = []
        self.error = error

    def create_commit(self, **kwargs):
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return SimpleNamespace(pr_url=PR_URL, oid="abc")


@pytest.fixture
def results(tmp_path: Path) -> Path:
    write_valid_set(tmp_path / "results")
    return tmp_path / "results"


def test_opens_a_pull_request_with_every_entry(results: Path) -> None:
    api = RecordingApi()
    outcome = submit_results(results / "ridge", REPO, api=api)
    assert outcome.pr_url == PR_URL and outcome.bundle_dir is None and outcome.files == RIDGE_FILES
    (call,) = api.calls
    assert set(call) == {"repo_id", "repo_type", "operations", "commit_message", "commit_description", "create_pr"}
    assert call["repo_id"] == REPO and call["repo_type"] == "dataset" and call["create_pr"] is True
    assert call["commit_message"] == "Add results of ridge (revisions main; 2 entries)"
    assert all(isinstance(op, CommitOperationAdd) for op in call["operations"])
    assert [op.path_in_repo for op in call["operations"]] == list(RIDGE_FILES)
    for op in call["operations"]:
        local = results / op.path_in_repo.removeprefix("results/")
        assert op.path_or_fileobj == local.read_bytes()
    assert not (results / "ridge-submission").exists()


def test_model_name_with_slash_and_two_revisions(results: Path) -> None:
    api = RecordingApi()
    outcome = submit_results(results / "neurrator__reference", REPO, api=api)
    assert len(outcome.files) == 2 + 2 + 6
    assert (
        "results/neurrator__reference/v2/nm1-contiguous-middle@region_group=V1,n_units=8~retrieval.json"
        in outcome.files
    )
    assert api.calls[0]["commit_message"] == "Add results of neurrator/reference (revisions v1, v2; 10 entries)"


def test_offline_writes_bundle_and_never_calls_the_hub(results: Path) -> None:
    api = RecordingApi()
    outcome = submit_results(results / "ridge", REPO, api=api, offline=True)
    bundle = results / "ridge-submission"
    assert api.calls == [] and outcome.pr_url is None and outcome.bundle_dir == bundle
    assert outcome.offline_reason == "offline=True was requested"
    assert sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()) == sorted(
        ["UPLOAD.md", *RIDGE_FILES]
    )
    for path in RIDGE_FILES:
        assert (bundle / path).read_bytes() == (results / path.removeprefix("results/")).read_bytes()
    upload = (bundle / "UPLOAD.md").read_text(encoding="utf-8")
    assert f"hf upload {REPO} {bundle.resolve() / 'results'} results --repo-type dataset --create-pr" in upload
    assert "huggingface-cli upload" in upload and "create_pr=True" in upload and 'repo_type="dataset"' in upload
    assert all(f"| `{path}` | `{path}` |" in upload for path in RIDGE_FILES)
    assert validate_results(results) == []  # the bundle inside the results folder is not an entry


@pytest.mark.parametrize(
    "error",
    [httpx2.ConnectError("no route to host"), OfflineModeIsEnabled("HF_HUB_OFFLINE=1"), TimeoutError("slow")],
    ids=["connect-error", "offline-mode", "timeout"],
)
def test_connection_errors_fall_back_to_bundle(results: Path, tmp_path: Path, error: BaseException) -> None:
    api = RecordingApi(error)
    outcome = submit_results(results / "ridge", REPO, api=api, bundle_dir=tmp_path / "bundle")
    assert len(api.calls) == 1
    assert outcome.bundle_dir == tmp_path / "bundle" and (tmp_path / "bundle/UPLOAD.md").is_file()
    assert outcome.offline_reason.startswith(f"the Hub could not be reached: {type(error).__name__}")


def test_other_hub_errors_propagate(results: Path) -> None:
    api = RecordingApi(PermissionError("403 forbidden"))
    with pytest.raises(PermissionError, match="403"):
        submit_results(results / "ridge", REPO, api=api)
    assert not (results / "ridge-submission").exists()


def test_offline_errors_are_connection_errors_only() -> None:
    errors = offline_errors()
    assert OfflineModeIsEnabled in errors and httpx2.ConnectError.__mro__[1] in errors
    assert not issubclass(httpx2.HTTPStatusError, errors) and Exception not in errors


def test_refuses_invalid_entries_of_this_model(results: Path) -> None:
    path = results / "ridge/main/nm1-contiguous-middle~retrieval.json"
    data = json.loads(path.read_text())
    data["metrics"][0]["value"] = float("nan")
    path.write_text(json.dumps(data))
    api = RecordingApi()
    with pytest.raises(ResultEntryError, match=r"(?s)refusing invalid entries:.*ridge/main.*non-finite number NaN"):
        submit_results(results / "ridge", REPO, api=api)
    assert api.calls == []


def test_problems_of_other_models_do_not_block(results: Path) -> None:
    (results / "pca-knn/main/nm1-contiguous-middle~retrieval.json").write_text("{broken", encoding="utf-8")
    assert submit_results(results / "ridge", REPO, api=RecordingApi()).pr_url == PR_URL


def test_bundle_is_not_overwritten_silently(results: Path) -> None:
    submit_results(results / "ridge", REPO, offline=True)
    with pytest.raises(FileExistsError, match="ridge-submission: already exists; pass overwrite=True"):
        submit_results(results / "ridge", REPO, offline=True)
    assert submit_results(results / "ridge", REPO, offline=True, overwrite=True).bundle_dir.is_dir()


def test_bad_arguments(results: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model folder .*absent: expected a folder"):
        submit_results(results / "absent", REPO, offline=True)
    with pytest.raises(ValueError, match="repo_id: expected 'namespace/name'.*found 'a b; rm -rf'"):
        submit_results(results / "ridge", "a b; rm -rf", offline=True)
    (results / "empty-model").mkdir()
    with pytest.raises(ResultEntryError, match="empty-model: expected <revision>/<task>.json entry files, found none"):
        submit_results(results / "empty-model", REPO, offline=True)
