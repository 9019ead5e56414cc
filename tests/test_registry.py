import pytest

from neurrator_bench.registry import Registry


def test_add_get_and_names():
    reg = Registry[int]("thing")
    reg.add("alpha", 1)
    reg.register("beta")(2)
    assert reg.get("alpha") == 1 and reg.get("beta") == 2
    assert reg.names() == ["alpha", "beta"] and "alpha" in reg and len(reg) == 2


def test_duplicate_raises_naming_both():
    reg = Registry[int]("thing")
    reg.add("alpha", 1)
    with pytest.raises(ValueError, match="duplicate thing name 'alpha'.*1.*2"):
        reg.add("alpha", 2)


def test_unknown_lists_near_matches_and_all():
    reg = Registry[int]("task")
    reg.add("nm1-front-only", 1)
    reg.add("nm1-sparse-random", 2)
    with pytest.raises(
        KeyError, match=r"Did you mean 'nm1-front-only'.*Registered tasks: nm1-front-only, nm1-sparse-random"
    ):
        reg.get("nm1-front-onl")


def test_frozen_refuses():
    reg = Registry[int]("thing")
    reg.freeze()
    with pytest.raises(ValueError, match="frozen"):
        reg.add("x", 1)
