"""push_to_hub: the exact calls made to the Hub API, and the pinned card."""

from types import SimpleNamespace

from neurrator_bench.builders.build import build_dataset
from neurrator_bench.builders.hub import push_dataset_to_hub
from tests.conftest import REAL_MAT


class RecordingApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", repo_id, kw))

    def upload_folder(self, **kw):
        self.calls.append(("upload_folder", kw["repo_id"], {k: v for k, v in kw.items() if k != "repo_id"}))
        return SimpleNamespace(oid="a" * 40)

    def upload_file(self, **kw):
        self.calls.append(
            (
                "upload_file",
                kw["repo_id"],
                {k: v for k, v in kw.items() if k not in ("repo_id", "path_or_fileobj")},
            )
        )
        self.card = kw["path_or_fileobj"].decode()


def test_push_calls_and_pinned_card(tmp_path):
    ds = build_dataset([], tmp_path / "ds", prebinned=[REAL_MAT]).path
    api = RecordingApi()
    sha = push_dataset_to_hub(ds, "org/neurrator", revision="v1", api=api)
    assert sha == "a" * 40
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "create_branch", "upload_folder", "upload_file"]
    assert api.calls[0][2] == {"repo_type": "dataset", "private": False, "exist_ok": True}
    assert api.calls[2][2]["folder_path"] == str(ds) and api.calls[2][2]["revision"] == "v1"
    assert api.calls[3][2]["path_in_repo"] == "README.md"
    assert f"pinned_revision: {sha}" in api.card and f'revision="{sha}"' in api.card
    assert (ds / "README.md").read_text() == api.card
