"""The dependency floors in pyproject.toml cover the transformers API the code actually uses.

Every name the package imports from ``transformers`` and every ``from_pretrained`` keyword it passes is
listed below with the first transformers release that has it (None: older than the floor; present in
the floor release). The floor versions were checked against the release wheels: 5.3.0 has neither
``CLIPImageProcessorPil`` nor a ``backend`` keyword in ``AutoImageProcessor.from_pretrained``; 5.4.0
(the image-processor backend refactor, huggingface/transformers#43514) has both and every other name.
A new import or keyword fails the first tests until it is listed here, with its release checked.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import transformers
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("neurrator_bench", "builders", "baselines", "reference_model", "leaderboard")

TRANSFORMERS_NAMES: dict[str, str | None] = {
    "CLIPImageProcessorPil": "5.4.0",  # builders/targets.py; PIL backend classes arrived in 5.4.0
    "CLIPVisionModel": None,
    "Blip2ForConditionalGeneration": None,
    "Blip2Processor": None,
    "LlavaForConditionalGeneration": None,
    "AutoTokenizer": None,
    "CLIPVisionConfig": None,
    "LlamaConfig": None,
    "LlavaConfig": None,
    "PreTrainedTokenizerFast": None,
}
FROM_PRETRAINED_KEYWORDS: dict[str, str | None] = {
    "backend": "5.4.0",  # builders/captions.py: Blip2Processor.from_pretrained(..., backend="pil")
    "dtype": None,  # the v5 name of torch_dtype
    "local_files_only": None,
}
TORCH_FLOOR_OF_TRANSFORMERS_5 = Version("2.4")  # transformers 5.x disables PyTorch < 2.4 (is_torch_available)


def _sources() -> list[tuple[Path, ast.Module]]:
    files = sorted(p for d in SOURCE_DIRS for p in (REPO / d).rglob("*.py"))
    return [(p, ast.parse(p.read_text(encoding="utf-8"), filename=str(p))) for p in files]


def _transformers_imports() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "transformers":
                for alias in node.names:
                    found.setdefault(alias.name, []).append(str(path.relative_to(REPO)))
    return found


def _from_pretrained_keywords() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "from_pretrained":
                for kw in node.keywords:
                    if kw.arg is not None:
                        found.setdefault(kw.arg, []).append(str(path.relative_to(REPO)))
    return found


def declared_floor(package: str) -> Version:
    """The ``>=`` floor of ``package`` in pyproject.toml's ``[project] dependencies``."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"(?ms)^dependencies = \[(.*?)^\]", text)
    if block is None:
        raise ValueError("pyproject.toml: no [project] dependencies list")
    match = re.search(rf'"{re.escape(package)}>=([0-9][0-9.]*)', block.group(1))
    if match is None:
        raise ValueError(f"pyproject.toml: dependency {package!r} has no >= floor")
    return Version(match.group(1))


def test_every_transformers_import_is_listed_and_exists() -> None:
    imports = _transformers_imports()
    assert "CLIPImageProcessorPil" in imports  # the scan sees the code
    unlisted = {name: where for name, where in imports.items() if name not in TRANSFORMERS_NAMES}
    assert unlisted == {}, "list each new transformers import with the first release that has it"
    assert [name for name in imports if not hasattr(transformers, name)] == []


def test_every_from_pretrained_keyword_is_listed() -> None:
    keywords = _from_pretrained_keywords()
    assert {"backend", "dtype"} <= set(keywords)
    unlisted = {k: where for k, where in keywords.items() if k not in FROM_PRETRAINED_KEYWORDS}
    assert unlisted == {}, "list each new from_pretrained keyword with the first release that accepts it"


def test_transformers_floor_covers_what_the_code_uses() -> None:
    used = [TRANSFORMERS_NAMES[n] for n in _transformers_imports()]
    used += [FROM_PRETRAINED_KEYWORDS[k] for k in _from_pretrained_keywords()]
    needed = max(Version(v) for v in used if v is not None)
    assert declared_floor("transformers") >= needed == Version("5.4.0")
    assert Version(transformers.__version__) >= declared_floor("transformers")


def test_torch_floor_is_one_transformers_5_runs_with() -> None:
    assert declared_floor("transformers").major >= 5
    assert declared_floor("torch") >= TORCH_FLOOR_OF_TRANSFORMERS_5


def test_declared_floor_errors() -> None:
    with pytest.raises(ValueError, match="'no-such-package' has no >= floor"):
        declared_floor("no-such-package")
