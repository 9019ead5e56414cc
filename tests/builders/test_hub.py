"""push_to_hub: the exact calls made to the Hub API, the files of the pushed revision, the pinned card."""

import fnmatch
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete

from neurrator_bench.builders.build import build_dataset
from neurrator_bench.builders.hub import push_dataset_to_hub, stale_data_files
from neurrator_bench.errors import DatasetFormatError
from neurrator_bench.schemas.dataset import ConfigFiles
from tests.conftest import REAL_MAT

# what an earlier build of another session left on the branch: a shard the new card's glob selects
# (data/units/*.parquet), a config the new build no longer has, and files outside data/ that must stay
EARLIER_BUILD = (
    "data/units/715093703.parquet",
    "data/real-nm1-715093703/test.parquet",
    "data/real-nm1-791319847/train.parquet",
    "README.md",
    "neurrator_manifest.json",
    ".gitattributes",
    "LICENSE.md",
)


class FakeHub:
    """A recording HfApi stand-in holding one branch's file set; commits get shas 'a'*40, 'b'*40, ..."""

    def __init__(self, existing=(".gitattributes",), *, apply_deletes=True):
        self.calls = []
        self.files = set(existing)
        self.snapshots = {}
        self.apply_deletes = apply_deletes

    def _commit(self):
        oid = "abcdefgh"[len(self.snapshots)] * 40
        self.snapshots[oid] = set(self.files)
        return SimpleNamespace(oid=oid)

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", repo_id, kw))

    def list_repo_files(self, repo_id, *, revision=None, repo_type=None):
        self.calls.append(("list_repo_files", repo_id, {"revision": revision, "repo_type": repo_type}))
        return sorted(self.snapshots.get(revision, self.files))

    def create_commit(self, repo_id, operations, **kw):
        operations = list(operations)
        self.calls.append(("create_commit", repo_id, kw))
        self.operations = operations
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                self.files.add(op.path_in_repo)
            elif isinstance(op, CommitOperationDelete) and self.apply_deletes:
                self.files.discard(op.path_in_repo)
        return self._commit()

    def upload_folder(self, **kw):  # the pre-fix code path: adds the folder, deletes only delete_patterns
        self.calls.append(("upload_folder", kw["repo_id"], {k: v for k, v in kw.items() if k != "repo_id"}))
        root = kw["folder_path"]
        patterns = kw.get("delete_patterns") or []
        self.files = {p for p in self.files if not any(fnmatch.fnmatch(p, g) for g in patterns)}
        self.files |= {str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file()}
        return self._commit()

    def upload_file(self, **kw):
        self.calls.append(
            (
                "upload_file",
                kw["repo_id"],
                {k: v for k, v in kw.items() if k not in ("repo_id", "path_or_fileobj")},
            )
        )
        self.files.add(kw["path_in_repo"])
        self.card = kw["path_or_fileobj"].decode()
        return self._commit()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_dataset([], tmp_path_factory.mktemp("hub") / "ds", prebinned=[REAL_MAT])


def _copy(built, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(built.path, ds)
    return ds


def test_push_calls_and_pinned_card(built, tmp_path):
    ds = _copy(built, tmp_path)
    api = FakeHub()
    sha = push_dataset_to_hub(ds, "org/neurrator", revision="v1", api=api)
    assert sha == "a" * 40
    names = [c[0] for c in api.calls]
    assert names == [
        "create_repo",
        "create_branch",
        "list_repo_files",
        "create_commit",
        "list_repo_files",
        "upload_file",
    ]
    assert api.calls[0][2] == {"repo_type": "dataset", "private": False, "exist_ok": True}
    assert api.calls[2][2] == {"revision": "v1", "repo_type": "dataset"}
    assert api.calls[3][2]["revision"] == "v1" and api.calls[3][2]["repo_type"] == "dataset"
    assert api.calls[4][2]["revision"] == sha  # the data commit is checked against the manifest
    added = {op.path_in_repo: op.path_or_fileobj for op in api.operations if isinstance(op, CommitOperationAdd)}
    assert set(added) == {*built.manifest.files, "neurrator_manifest.json", "README.md"}
    assert added["neurrator_manifest.json"] == str(ds / "neurrator_manifest.json")
    assert not [op for op in api.operations if isinstance(op, CommitOperationDelete)]
    assert api.calls[5][2]["path_in_repo"] == "README.md"
    assert f"pinned_revision: {sha}" in api.card and f'revision="{sha}"' in api.card
    assert (ds / "README.md").read_text() == api.card


def test_repush_deletes_shards_the_new_manifest_does_not_list(built, tmp_path):
    ds = _copy(built, tmp_path)
    api = FakeHub(EARLIER_BUILD)
    sha = push_dataset_to_hub(ds, "org/neurrator", api=api)
    data_files = {p for p in api.snapshots[sha] if p.startswith("data/")}
    assert data_files == set(built.manifest.files)  # what load_dataset's globs can select at the pinned sha
    assert {"LICENSE.md", ".gitattributes", "README.md", "neurrator_manifest.json"} <= api.snapshots[sha]
    deleted = [op.path_in_repo for op in api.operations if isinstance(op, CommitOperationDelete)]
    assert deleted == ["data/real-nm1-715093703/test.parquet", "data/units/715093703.parquet"]
    assert [c[0] for c in api.calls].count("create_commit") == 1  # adds and deletes in one commit


def test_stale_data_files_by_prefix_and_glob(built):
    remote = [*EARLIER_BUILD, *built.manifest.files, "extra/units.parquet"]
    manifest = built.manifest.model_copy(
        update={"configs": {**built.manifest.configs, "x": ConfigFiles(splits={"train": ["extra/*.parquet"]})}}
    )
    assert stale_data_files(remote, manifest) == [
        "data/real-nm1-715093703/test.parquet",
        "data/units/715093703.parquet",
        "extra/units.parquet",
    ]


def test_push_refuses_to_pin_when_the_hub_keeps_unlisted_data(built, tmp_path):
    ds = _copy(built, tmp_path)
    api = FakeHub(EARLIER_BUILD, apply_deletes=False)
    with pytest.raises(DatasetFormatError, match=r"org/neurrator@a{40}.*not in the manifest.*715093703.*not pinned"):
        push_dataset_to_hub(ds, "org/neurrator", api=api)
    assert "upload_file" not in [c[0] for c in api.calls]


def test_push_refuses_files_that_differ_from_the_manifest(built, tmp_path):
    ds = _copy(built, tmp_path)
    shard = sorted(built.manifest.files)[0]
    (ds / shard).write_bytes(b"not the built shard")
    api = FakeHub()
    with pytest.raises(DatasetFormatError, match=rf"differ from the sha256.*{shard}"):
        push_dataset_to_hub(ds, "org/neurrator", api=api)
    assert api.calls == []


def test_simulated_build_is_refused_without_allow_simulated(built_dataset, tmp_path):
    ds = tmp_path / "sim"
    shutil.copytree(built_dataset, ds)
    api = FakeHub()
    with pytest.raises(DatasetFormatError, match=r"come from simulated sessions .* allow_simulated=True"):
        push_dataset_to_hub(ds, "org/sim", api=api)
    assert api.calls == []  # refused before anything reached the Hub
    push_dataset_to_hub(ds, "org/sim", api=api, allow_simulated=True)
    assert "# SIMULATED neurrator-bench" in api.card
