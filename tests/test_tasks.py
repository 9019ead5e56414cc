"""Every registered task: exact split rules and no leakage between splits."""

import numpy as np
import pytest

from neurrator_bench.tasks import (
    NM1,
    NM3,
    REPEAT_ROLES,
    SCENES,
    TASKS,
    get_task,
    identity_holdout_images,
    sparse_random_frames,
)

N_FRAMES = {NM1: 900, NM3: 3600, SCENES: 118}


def grid(stimulus):
    n = N_FRAMES[stimulus]
    r = REPEAT_ROLES[stimulus].n_repeats
    return np.repeat(np.arange(r), n), np.tile(np.arange(n), r)


def assignments(task):
    out = {}
    for stimulus in task.stimuli:
        repeat, frame = grid(stimulus)
        split = task.assign(stimulus, repeat, frame, N_FRAMES[stimulus])
        for name in ("train", "validation", "test"):
            m = split == name
            out.setdefault(name, []).append((stimulus, repeat[m], frame[m]))
    return out


@pytest.mark.parametrize("name", TASKS.names(), ids=TASKS.names())
def test_no_leakage(name):
    task = get_task(name)
    a = assignments(task)

    def keys(split, what):
        return {(s, int(x)) for s, r, f in a[split] for x in (r if what == "repeat" else f)}

    for split in ("train", "validation", "test"):
        assert sum(r.size for _, r, _ in a[split]) > 0, f"{name}: empty {split}"

    def trials(split):  # a movie trial is a repeat; a scene trial is one (image, occurrence) presentation
        return {
            (s, int(x), int(y)) for s, r, f in a[split] for x, y in zip(r, f if s == SCENES else 0 * f, strict=True)
        }

    # no trial in two splits
    assert not trials("train") & trials("test")
    assert not trials("validation") & trials("test")
    assert not trials("train") & trials("validation")
    # a task with a frame rule never shows a test frame in training or validation (a repeat holdout has none)
    if any(rule.held_out is not None for rule in task.rules):
        assert not keys("train", "frame") & keys("test", "frame")
        assert not keys("validation", "frame") & keys("test", "frame")
    elif len(task.rules) == 1:
        assert keys("train", "frame") == keys("test", "frame")  # a repeat holdout: every frame, on other trials
    assert task.version >= 1 and task.rule_text and task.paper_section


def test_contiguous_middle_exact():
    a = assignments(get_task("nm1-contiguous-middle"))
    ((_, r, f),) = a["test"]
    assert set(f.tolist()) == set(range(250, 450)) and set(r.tolist()) == {9, 19}
    ((_, r, f),) = a["train"]
    assert f.max() == 899 and not np.isin(f, np.arange(250, 450)).any() and len(set(r.tolist())) == 16
    assert r.size == 16 * 700


def test_front_only_exact():
    a = assignments(get_task("nm1-front-only"))
    assert a["train"][0][2].max() == 199 and a["test"][0][2].min() == 200
    assert a["test"][0][2].size == 2 * 700


def test_sparse_random_is_seeded_and_sparse():
    h = sparse_random_frames(900)
    assert h.size == 90 and np.array_equal(h, sparse_random_frames(900)) and np.all(np.diff(h) > 0)
    assert not np.array_equal(h, sparse_random_frames(900, seed=43))


def test_identity_holdout_18_of_118_seed_42():
    h = identity_holdout_images()
    assert h.size == 18 and h.max() < 118
    a = assignments(get_task("scenes-identity-holdout"))
    assert set(a["test"][0][2].tolist()) == set(h.tolist())
    assert not set(a["train"][0][2].tolist()) & set(h.tolist())
    assert len(set(a["train"][0][2].tolist())) == 100


def test_cross_movie_tests_only_on_nm3():
    a = assignments(get_task("nm3-cross-movie"))
    assert {s for s, r, _ in a["train"] if r.size} == {NM1} and {s for s, r, _ in a["test"] if r.size} == {NM3}
    assert sum(r.size for _, r, _ in a["test"]) == 2 * 3600


def test_unknown_task_suggests():
    with pytest.raises(KeyError, match="Did you mean 'nm1-front-only'"):
        get_task("nm1-frontonly")


def test_identity_holdout_tests_every_presentation_of_the_held_out_images():
    task = get_task("scenes-identity-holdout")
    held = identity_holdout_images()
    frame = np.repeat(np.arange(118), 50)
    repeat = np.tile(np.arange(50), 118)
    split = task.assign(SCENES, repeat, frame, 118)
    in_h = np.isin(frame, held)
    assert (split[in_h] == "test").all() and in_h.sum() == 18 * 50  # every occurrence, used nowhere else
    assert not (split[~in_h] == "test").any()
    assert (split[~in_h & (repeat % 10 == 8)] == "validation").all()
    assert (split[~in_h & (repeat % 10 != 8)] == "train").all()  # index % 10 == 9 of training images included
