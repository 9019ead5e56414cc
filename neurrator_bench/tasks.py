"""Task registry: the paper's holdout regimes as exact, versioned split rules.

A task maps every stimulus presentation ``(stimulus, repeat, frame)`` to ``"train"``, ``"validation"``,
``"test"`` or ``None`` (unused). Every regime is the intersection of two rules:

* a **repeat rule** (trials): each stimulus has fixed validation and test repeats, the rest train
  (:data:`REPEAT_ROLES`); a repeat of a movie starts where ``frame == 0``; for natural scenes the
  repeat of a presentation is the occurrence index of that image in time order (0..49);
* a **frame rule** (content): a held-out frame set ``H``. Train and validation use frames outside ``H``
  on their repeats; test uses frames inside ``H`` on the test repeats. A held-out frame is therefore never
  seen in training on any repeat, and a test trial is never seen in training.

Paper references: Sec. 4.1 (contiguous-middle, front-only), A.5 (identity holdout, seed 42),
A.6 / Table A1 (sparse random frames), A.1 / Fig. A2 (NM3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from neurrator_bench.registry import Registry

NM1 = "natural_movie_one"
NM3 = "natural_movie_three"
SCENES = "natural_scenes"
NATURAL_STIMULI: tuple[str, ...] = (NM1, NM3, SCENES)
SPLITS: tuple[str, ...] = ("train", "validation", "test")

HOLDOUT_SEED = 42
"""Seed of every random frame/image holdout (paper A.5: "seed 42, fixed across sessions")."""


@dataclass(frozen=True)
class RepeatRoles:
    """Which repeats of a stimulus are validation and test trials (all others are training trials)."""

    n_repeats: int
    validation: tuple[int, ...]
    test: tuple[int, ...]

    def role(self, repeat: np.ndarray) -> np.ndarray:
        """Role of each repeat index: "train", "validation" or "test" (object array, same shape)."""
        out = np.full(repeat.shape, "train", dtype=object)
        out[np.isin(repeat, self.validation)] = "validation"
        out[np.isin(repeat, self.test)] = "test"
        return out


REPEAT_ROLES: dict[str, RepeatRoles] = {
    # BO1.1: NM1 20 repeats in 2 blocks of 10; the last repeat of each block is test, the one before validation.
    NM1: RepeatRoles(n_repeats=20, validation=(8, 18), test=(9, 19)),
    # NM3 10 repeats in 2 blocks of 5.
    NM3: RepeatRoles(n_repeats=10, validation=(3, 8), test=(4, 9)),
    # Natural scenes: ~50 presentations per image; occurrence % 10 == 8 -> validation, == 9 -> test.
    SCENES: RepeatRoles(n_repeats=50, validation=(8, 18, 28, 38, 48), test=(9, 19, 29, 39, 49)),
}


def sparse_random_frames(n_frames: int, fraction: float = 0.10, seed: int = HOLDOUT_SEED) -> np.ndarray:
    """The sparse random held-out frame set: ``round(fraction * n_frames)`` frames drawn without replacement.

    Returns:
        Sorted int64 array of frame indices.
    """
    rng = np.random.default_rng(seed)
    k = round(fraction * n_frames)
    return np.sort(rng.choice(n_frames, size=k, replace=False)).astype(np.int64)


def identity_holdout_images(n_images: int = 118, n_holdout: int = 18, seed: int = HOLDOUT_SEED) -> np.ndarray:
    """The natural-scenes identity holdout (paper A.5): ``n_holdout`` image ids drawn with ``seed``.

    Returns:
        Sorted int64 array of held-out image indices.
    """
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_images, size=n_holdout, replace=False)).astype(np.int64)


HeldOutRule = Callable[[int], np.ndarray]
"""Given the number of frames of a stimulus, return the held-out frame indices ``H``."""


@dataclass(frozen=True)
class StimulusRule:
    """How one stimulus takes part in a task.

    Attributes:
        stimulus: Allen stimulus name.
        splits: The splits this stimulus feeds (a cross-movie task trains on one movie, tests on another).
        held_out: Frame rule returning ``H``; None means "no frame rule": every frame is used in the
            splits listed.
    """

    stimulus: str
    splits: tuple[str, ...]
    held_out: HeldOutRule | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark task: a named, versioned split rule over stimulus presentations."""

    name: str
    version: int
    description: str
    rule_text: str
    paper_section: str
    rules: tuple[StimulusRule, ...]

    @property
    def stimuli(self) -> tuple[str, ...]:
        """Stimuli this task uses."""
        return tuple(r.stimulus for r in self.rules)

    def assign(self, stimulus: str, repeat: np.ndarray, frame: np.ndarray, n_frames: int) -> np.ndarray:
        """Split of each presentation.

        Args:
            stimulus: Allen stimulus name.
            repeat: (n,) int repeat index of each presentation.
            frame: (n,) int frame (movie frame or image index) of each presentation.
            n_frames: Number of distinct frames of the stimulus (900 for NM1, 118 for natural scenes).

        Returns:
            (n,) object array of "train" / "validation" / "test" / None.
        """
        out = np.full(np.shape(repeat), None, dtype=object)
        for rule in self.rules:
            if rule.stimulus != stimulus:
                continue
            roles = REPEAT_ROLES[stimulus].role(np.asarray(repeat))
            if rule.held_out is None:
                for split in rule.splits:
                    out[roles == split] = split
                continue
            in_h = np.isin(frame, rule.held_out(n_frames))
            for split in rule.splits:
                want_h = split == "test"
                out[(roles == split) & (in_h == want_h)] = split
        return out


TASKS: Registry[TaskSpec] = Registry("task")


def _register(spec: TaskSpec) -> TaskSpec:
    return TASKS.add(spec.name, spec)


_ALL = ("train", "validation", "test")

_register(
    TaskSpec(
        name="nm1-sparse-random",
        version=1,
        description="Natural Movie One, sparse random held-out frames (10 % of the 900 frames, seed 42).",
        rule_text=(
            "H = 90 frames of Natural Movie One drawn without replacement with numpy default_rng(42) "
            "(`sparse_random_frames(900)`). train = repeats other than 8, 9, 18, 19 on frames not in H; "
            "validation = repeats 8 and 18 on frames not in H; test = repeats 9 and 19 on frames in H."
        ),
        paper_section="A.6 (Table A1, sparse random frames)",
        rules=(StimulusRule(NM1, _ALL, held_out=sparse_random_frames),),
    )
)
_register(
    TaskSpec(
        name="nm1-contiguous-middle",
        version=1,
        description="Natural Movie One, contiguous middle block (frames 250-449) held out.",
        rule_text=(
            "H = frames 250..449 (inclusive) of Natural Movie One. train = repeats other than 8, 9, 18, 19 on "
            "frames not in H; validation = repeats 8 and 18 on frames not in H; test = repeats 9 and 19 on H."
        ),
        paper_section="4.1 (contiguous-middle regime)",
        rules=(StimulusRule(NM1, _ALL, held_out=lambda n: np.arange(250, min(450, n), dtype=np.int64)),),
    )
)
_register(
    TaskSpec(
        name="nm1-front-only",
        version=1,
        description="Natural Movie One, train on frames < 200, extrapolate to frames 200-899.",
        rule_text=(
            "H = frames >= 200 of Natural Movie One. train = repeats other than 8, 9, 18, 19 on frames < 200; "
            "validation = repeats 8 and 18 on frames < 200; test = repeats 9 and 19 on frames >= 200."
        ),
        paper_section="4.1 (front-only regime)",
        rules=(StimulusRule(NM1, _ALL, held_out=lambda n: np.arange(200, n, dtype=np.int64)),),
    )
)
_register(
    TaskSpec(
        name="scenes-identity-holdout",
        version=1,
        description="Natural Scenes, 18 of 118 images held out entirely (seed 42).",
        rule_text=(
            "H = 18 of the 118 natural-scene images drawn without replacement with numpy default_rng(42) "
            "(`identity_holdout_images()`); blank presentations (frame -1) are dropped. The repeat of a "
            "presentation is the occurrence index of its image in time order. train = occurrences with "
            "index % 10 not in {8, 9} of images not in H; validation = occurrences with index % 10 == 8 of "
            "images not in H; test = occurrences with index % 10 == 9 of images in H."
        ),
        paper_section="A.5 (identity holdout)",
        rules=(StimulusRule(SCENES, _ALL, held_out=identity_holdout_images),),
    )
)
_register(
    TaskSpec(
        name="nm3-cross-movie",
        version=1,
        description="Train on Natural Movie One, test on the unseen Natural Movie Three.",
        rule_text=(
            "train = Natural Movie One repeats other than 8, 9, 18, 19 (all frames); validation = Natural "
            "Movie One repeats 8 and 18 (all frames); test = Natural Movie Three repeats 4 and 9 (all frames). "
            "No Natural Movie Three frame is seen in training."
        ),
        paper_section="A.1 (Fig. A2, NM3)",
        rules=(StimulusRule(NM1, ("train", "validation")), StimulusRule(NM3, ("test",))),
    )
)
TASKS.freeze()


def get_task(name: str) -> TaskSpec:
    """Look up a task by name (KeyError with near matches when unknown)."""
    return TASKS.get(name)
