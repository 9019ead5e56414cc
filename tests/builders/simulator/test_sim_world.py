from __future__ import annotations

import re

import numpy as np
import pytest

from neurrator_bench.builders.simulator.wording import describe
from neurrator_bench.builders.simulator.world import feature_names, render_stimulus


@pytest.fixture(scope="module")
def nm1():
    return render_stimulus("natural_movie_one", 900, 64, (4, 4), seed=0)


@pytest.fixture(scope="module")
def nm3():
    return render_stimulus("natural_movie_three", 900, 64, (4, 4), seed=1)


def test_shapes_and_types(nm1):
    assert nm1.frames.shape == (900, 64, 64)
    assert nm1.frames.dtype == np.uint8
    assert len(nm1.descriptions) == 900
    assert all(len(p) == 16 for p in nm1.patch_descriptions)
    assert nm1.features.shape == (900, len(feature_names()))
    assert all(d[0].isupper() and d.endswith(".") for d in nm1.descriptions)


def test_descriptions_vary(nm1):
    assert len(set(nm1.descriptions)) >= 30
    assert len({p for ps in nm1.patch_descriptions for p in ps}) >= 20
    # frames differ, not one image repeated
    assert len({f.tobytes() for f in nm1.frames}) > 800


def test_rendering_is_deterministic(nm1):
    again = render_stimulus("natural_movie_one", 900, 64, (4, 4), seed=0)
    assert np.array_equal(again.frames, nm1.frames)
    assert again.descriptions == nm1.descriptions
    other = render_stimulus("natural_movie_one", 900, 64, (4, 4), seed=1)
    assert not np.array_equal(other.frames, nm1.frames)


def test_captions_agree_with_features_and_patches(nm1):
    names = feature_names()
    car = nm1.features[:, names.index("obj_car")]
    mentions = np.array([re.search(r"\bcars?\b", d) is not None for d in nm1.descriptions])
    assert mentions.any()
    assert np.all(car[mentions] > 0)
    assert not np.any(mentions[car == 0])
    patch_car = np.array([any("of a car" in p or "a car " in p for p in ps) for ps in nm1.patch_descriptions])
    assert patch_car.any()
    assert np.all(mentions[patch_car])


def test_lighting_matches_luminance(nm1):
    lum = nm1.frames.mean(axis=(1, 2))
    dark = np.array([d.startswith("A dark") for d in nm1.descriptions])
    bright = np.array([d.startswith(("A sunny", "A brightly lit")) for d in nm1.descriptions])
    assert dark.any() and bright.any()
    assert lum[dark].mean() < lum[bright].mean() - 20


def test_movies_have_different_emphasis(nm1, nm3):
    def share(stim, pattern):
        return np.mean([re.search(pattern, d) is not None for d in stim.descriptions])

    assert share(nm1, r"\bcar\b") > share(nm3, r"\bcar\b")
    assert share(nm3, r"people|bicycle|suit") > share(nm1, r"people|bicycle|suit")
    assert share(nm1, r"^A dark") > share(nm3, r"^A dark")


def test_natural_scenes_are_unrelated_stills():
    ns = render_stimulus("natural_scenes", 118, 64, (4, 4), seed=2)
    assert ns.frames.shape == (118, 64, 64)
    assert len(set(ns.descriptions)) > 90
    assert np.all(ns.features[:, feature_names().index("motion")] == 0)


def test_describe_groups_people():
    from neurrator_bench.builders.simulator.render import SceneObject

    people = [(SceneObject("person", 0.5, 0.9, 0.4, 0.5, 0.1, "in a suit"), 0.5)] * 2
    assert describe("street", "dark", people) == "A dark street with two men in suits walking in the center."
    assert describe("room", "bright", []) == "An empty brightly lit room."


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="image_size"):
        render_stimulus("natural_movie_one", 10, 30, (4, 4), seed=0)
    with pytest.raises(ValueError, match="stimulus name"):
        render_stimulus("gabors", 10, 64, (4, 4), seed=0)


def test_held_out_vocabulary_appears_in_training_frames(nm1):
    from neurrator_bench.builders.simulator.world import held_out_coverage

    missing = held_out_coverage("natural_movie_one", nm1.tokens)
    assert {"nm1-contiguous-middle", "nm1-front-only", "nm1-sparse-random"} <= set(missing)
    assert all(not tokens for tokens in missing.values())


def test_contiguous_middle_block_varies_frame_by_frame(nm1):
    block = slice(250, 450)
    assert len(set(nm1.descriptions[block])) >= 100
    mixtures = {tuple(tuple(sorted(m.items())) for m in row) for row in nm1.patch_mixtures[block]}
    assert len(mixtures) >= 150


def test_patch_mixtures_are_normalized_and_in_the_vocabulary(nm1):
    from neurrator_bench.builders.simulator.vocabulary import PHRASES

    for row, dominant in zip(nm1.patch_mixtures[::37], nm1.patch_descriptions[::37], strict=True):
        assert len(row) == 16
        for mix in row:
            assert 0 < len(mix) <= 3 and abs(sum(mix.values()) - 1) < 1e-3
            assert set(mix) <= set(PHRASES)
        assert set(dominant) <= set(PHRASES)


def test_wordings_vary_for_one_content():
    from neurrator_bench.builders.simulator.render import SceneObject
    from neurrator_bench.builders.simulator.wording import N_WORDINGS

    car = [(SceneObject("car", 0.3, 0.9, 0.2, 0.5, 0.0), 0.3)]
    texts = {describe("street", "dark", car, w) for w in range(N_WORDINGS)}
    assert len(texts) == N_WORDINGS
    assert all("car parked on the left" in t for t in texts)


def test_coverage_check_flags_held_out_only_tokens():
    from neurrator_bench.builders.simulator.world import held_out_coverage
    from neurrator_bench.tasks import sparse_random_frames

    tokens = [frozenset({"place:street"})] * 900
    tokens[300] = frozenset({"place:street", "object:teapot"})  # only inside contiguous-middle's 250..449
    tokens[100] = frozenset({"place:room"})  # only in front-only's training frames: fine everywhere
    missing = held_out_coverage("natural_movie_one", tokens)
    assert missing["nm1-contiguous-middle"] == {"object:teapot"}
    assert missing["nm1-front-only"] == {"object:teapot"}
    assert missing["nm1-sparse-random"] == ({"object:teapot"} if 300 in sparse_random_frames(900) else set())
    scenes = held_out_coverage("natural_scenes", [frozenset({f"object:k{i}"}) for i in range(118)])
    assert len(scenes["scenes-identity-holdout"]) == 18  # every held-out image shows a token of its own
