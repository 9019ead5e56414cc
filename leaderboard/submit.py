"""Submit a model's result entries as a pull request on the Hugging Face dataset repo of results.

The model's folder is validated first (with the rest of its results folder) and refused if invalid.
Online, one commit with every entry file is opened as a pull request (``create_pr=True``). Offline
(``offline=True``, or when the Hub cannot be reached) a bundle folder is written instead, holding the
files under ``results/...`` and an ``UPLOAD.md`` saying exactly what to upload where.
"""

from __future__ import annotations

import importlib
import logging
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurrator_bench.atomic_files import replaced_folder
from neurrator_bench.errors import ResultEntryError
from neurrator_bench.leaderboard.validate import Problem, raise_if_invalid, validate_results
from neurrator_bench.schemas.result_entry import read_entry

logger = logging.getLogger(__name__)

REPO_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
UPLOAD_FILE = "UPLOAD.md"


@dataclass(frozen=True)
class SubmitOutcome:
    """What :func:`submit_results` did.

    Attributes:
        model: The model folder name (model name with ``/`` as ``__``).
        files: Paths in the repo, ``results/<model>/<revision>/<file>.json``.
        pr_url: The pull request URL (None when offline).
        bundle_dir: The bundle folder written offline (None when a pull request was opened).
        offline_reason: Why the bundle was written instead (None when online).
    """

    model: str
    files: tuple[str, ...]
    pr_url: str | None
    bundle_dir: Path | None
    offline_reason: str | None = None


def offline_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "the Hub cannot be reached" (offline mode, connection, timeout).

    Returns:
        ``huggingface_hub.errors.OfflineModeIsEnabled``, the builtin ``ConnectionError`` and
        ``TimeoutError``, and the network/timeout errors of the HTTP client libraries that are installed
        (``httpx2``, ``httpx``: ``NetworkError``, ``TimeoutException``, ``ProxyError``; ``requests``:
        ``ConnectionError``, ``Timeout``). HTTP status errors (4xx/5xx) are not among them.
    """
    from huggingface_hub.errors import OfflineModeIsEnabled

    errors: list[type[BaseException]] = [OfflineModeIsEnabled, ConnectionError, TimeoutError]
    candidates = (
        ("httpx2", ("NetworkError", "TimeoutException", "ProxyError")),
        ("httpx", ("NetworkError", "TimeoutException", "ProxyError")),
        ("requests.exceptions", ("ConnectionError", "Timeout")),
    )
    for module_name, names in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue  # that client library is not installed, so it cannot raise
        errors.extend(getattr(module, name) for name in names if isinstance(getattr(module, name, None), type))
    return tuple(dict.fromkeys(errors))


def _concerns(problem: Problem, model_dir: Path) -> bool:
    root = model_dir.resolve()
    return any(root in p.resolve().parents for p in (problem.path, *problem.others))


def _collect(model_dir: Path) -> tuple[str, dict[str, bytes], int]:
    """The model name, ``{path in repo: file bytes}`` and the entry count of ``model_dir``.

    A verified entry's predictions file (``verification.predictions_file``, beside it) travels with it, so the
    results repo can check its hash and re-score it as the local folder can.
    """
    files = sorted(p for p in model_dir.glob("*/*.json") if not p.name.startswith("."))
    if not files:
        raise ResultEntryError(f"model folder {model_dir}: expected <revision>/<task>.json entry files, found none")
    entries = [read_entry(p) for p in files]
    paths = list(files)
    for path, entry in zip(files, entries, strict=True):
        if entry.verification is not None:
            paths.append(path.with_name(entry.verification.predictions_file))
    payload = {f"results/{model_dir.name}/{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(paths)}
    return entries[0].model.name, payload, len(files)


def _upload_md(
    repo_id: str, model_name: str, bundle: Path, *, files: dict[str, bytes], message: str, reason: str
) -> str:
    table = "\n".join(f"| `{path}` | `{path}` |" for path in files)
    folder = shlex.quote(str(bundle.resolve() / "results"))
    return f"""# Result submission bundle: {model_name}

These result entries could not be sent to the Hugging Face Hub ({reason}).
Upload them as a **pull request** to the **dataset** repo `{repo_id}`:

| file in this folder | path in the repo |
|---|---|
{table}

With the Hugging Face CLI (`hf`, huggingface_hub >= 1.0; older releases call it `huggingface-cli upload`
with the same arguments):

```bash
hf upload {shlex.quote(repo_id)} {folder} results --repo-type dataset --create-pr \\
    --commit-message {shlex.quote(message)}
```

Or from Python:

```python
from huggingface_hub import HfApi

HfApi().upload_folder(
    repo_id={repo_id!r},
    repo_type="dataset",
    folder_path={str(bundle.resolve() / "results")!r},
    path_in_repo="results",
    commit_message={message!r},
    create_pr=True,
)
```
"""


def _write_bundle(
    bundle_dir: Path,
    repo_id: str,
    model_name: str,
    *,
    files: dict[str, bytes],
    message: str,
    reason: str,
    overwrite: bool,
) -> Path:
    if bundle_dir.exists() and not overwrite:
        raise FileExistsError(f"submission bundle {bundle_dir}: already exists; pass overwrite=True to replace it")
    with replaced_folder(bundle_dir) as staging:
        for path_in_repo, data in files.items():
            target = staging / path_in_repo
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (staging / UPLOAD_FILE).write_text(
            _upload_md(repo_id, model_name, bundle_dir, files=files, message=message, reason=reason), encoding="utf-8"
        )
    return bundle_dir


def submit_results(
    model_dir: Path,
    repo_id: str,
    *,
    api: Any = None,
    token: str | None = None,
    offline: bool = False,
    bundle_dir: Path | None = None,
    overwrite: bool = False,
) -> SubmitOutcome:
    """Validate a model's entries and open a pull request with them on a Hub dataset repo of results.

    Args:
        model_dir: ``RESULTS_DIR/<model>``; its results folder (the parent) is validated, and any problem
            involving this model's files refuses the submission.
        repo_id: The results dataset repo (``"org/neurrator-bench-results"``).
        api: An object with ``create_commit`` like ``huggingface_hub.HfApi`` (default: ``HfApi(token=token)``).
        token: Hub token for the default ``api``.
        offline: Write the bundle without trying the Hub.
        bundle_dir: Where the offline bundle goes (default ``<model_dir>/../<model>-submission``).
        overwrite: Replace an existing bundle folder.

    Returns:
        A :class:`SubmitOutcome` with the PR URL (online) or the bundle folder (offline).

    Raises:
        FileNotFoundError: If ``model_dir`` is not a folder.
        ValueError: If ``repo_id`` is not ``name`` or ``namespace/name``.
        ResultEntryError: If validation finds problems in this model's entries, or it has none.
        FileExistsError: If the bundle folder exists and ``overwrite`` is False.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model folder {model_dir}: expected a folder of <revision>/<task>.json, found none")
    if not REPO_ID.match(repo_id):
        raise ValueError(f"repo_id: expected 'namespace/name' of a Hub dataset repo, found {repo_id!r}")
    results_dir = model_dir.parent
    problems = validate_results(results_dir)
    mine = [p for p in problems if _concerns(p, model_dir)]
    for other in problems:
        if other not in mine:
            logger.warning("not part of this submission: %s", other)
    raise_if_invalid(results_dir, mine)
    model_name, files, n_entries = _collect(model_dir)
    revisions = sorted({path.split("/")[2] for path in files})
    message = f"Add results of {model_name} (revisions {', '.join(revisions)}; {n_entries} entries)"
    reason = "offline=True was requested"
    if not offline:
        from huggingface_hub import CommitOperationAdd

        if api is None:
            from huggingface_hub import HfApi

            api = HfApi(token=token)
        operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data) for path, data in files.items()]
        description = "Result entries validated with `neurrator-bench leaderboard validate`:\n\n" + "\n".join(
            f"- `{path}`" for path in files
        )
        try:
            info = api.create_commit(
                repo_id=repo_id,
                repo_type="dataset",
                operations=operations,
                commit_message=message,
                commit_description=description,
                create_pr=True,
            )
        except offline_errors() as exc:
            reason = f"the Hub could not be reached: {type(exc).__name__}: {exc}"
            logger.warning("%s; writing an offline submission bundle instead", reason)
        else:
            logger.info("opened pull request %s on dataset %s", info.pr_url, repo_id)
            return SubmitOutcome(model_dir.name, tuple(files), info.pr_url, None)
    target = bundle_dir if bundle_dir is not None else results_dir / f"{model_dir.name}-submission"
    written = _write_bundle(
        Path(target), repo_id, model_name, files=files, message=message, reason=reason, overwrite=overwrite
    )
    return SubmitOutcome(model_dir.name, tuple(files), None, written, reason)
