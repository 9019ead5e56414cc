from __future__ import annotations

import re

import pytest

from neurrator_bench.scorers.floor_pools import FLOOR_POOL_VERSION, OFF_TOPIC, WORD_SALAD

SCENE_WORDS = {"car", "room", "tree", "person", "man", "woman", "street", "window", "building", "dog", "sky"}


def test_version_is_pinned():
    assert FLOOR_POOL_VERSION == 1


@pytest.mark.parametrize("pool", [WORD_SALAD, OFF_TOPIC], ids=["word_salad", "off_topic"])
def test_exactly_30_distinct_nonempty_sentences(pool):
    assert isinstance(pool, tuple)
    assert len(pool) == 30
    assert len(set(pool)) == 30
    assert all(isinstance(s, str) and s.strip() == s and len(s.split()) >= 5 for s in pool)


def test_pools_do_not_overlap():
    assert not set(WORD_SALAD) & set(OFF_TOPIC)


@pytest.mark.parametrize("pool", [WORD_SALAD, OFF_TOPIC], ids=["word_salad", "off_topic"])
def test_no_scene_vocabulary(pool):
    for sentence in pool:
        words = set(re.findall(r"[a-z]+", sentence.lower()))
        assert not words & SCENE_WORDS, sentence
