"""The fixed phrase vocabulary of the simulated world: every phrase the renderer can paint, and what it means.

Each phrase names what a patch shows ("the front of a car", "the dark road"). This module is the one place
that says, for every phrase:

- its **concept** (the object kind or background class it belongs to), the unit of the simulated neural
  code (units are tuned to concept areas, :mod:`.population`);
- the **places** it is evidence for, the **lighting** it implies and the **object** it is part of, which the
  offline phrase narrator (:mod:`neurrator_bench.reference_model.phrase_narrator`) reads to compose a
  sentence from decoded patches.

`PHRASES` is generated from the same building blocks the renderer uses (`render.lit` for the lighting
variants of surfaces), and a test checks that every phrase painted on every rendered frame is in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .render import lit

LIGHTINGS = ("bright", "dim", "dark")

# surface phrase -> (concept, places it is evidence for); painted in three lighting variants via render.lit
_SURFACES: dict[str, tuple[str, tuple[str, ...]]] = {
    "the sidewalk": ("street ground", ("street", "shop front")),
    "the road": ("street ground", ("street",)),
    "a building": ("building", ("street",)),
    "asphalt": ("lot ground", ("parking lot",)),
    "grass": ("grass", ("field",)),
    "the sea": ("sea", ("beach",)),
    "sand": ("sea", ("beach",)),
    "harbor water": ("harbor", ("harbor",)),
    "a wall": ("interior", ("room", "shop front")),
    "the floor": ("interior", ("room", "hallway")),
    "a corridor wall": ("hallway", ("hallway",)),
    "a building facade": ("building", ("building facade",)),
    "the forest floor": ("forest", ("forest",)),
    "the foliage": ("forest", ("forest",)),
}
# phrases painted under every lighting unchanged: (concept, places, lighting implied or "")
_FIXED: dict[str, tuple[str, tuple[str, ...], str]] = {
    "bright sky": ("sky", ("street", "parking lot", "field", "beach", "harbor", "shop front"), "bright"),
    "grey sky": ("sky", ("street", "parking lot", "field", "beach", "harbor", "shop front"), "dim"),
    "dark night sky": ("sky", ("street", "parking lot", "field", "beach", "harbor", "shop front"), "dark"),
    "a lit window": ("light", ("street", "building facade"), "dark"),
    "the sun": ("light", ("field",), "bright"),
    "the moon": ("light", ("field",), ""),
    "road markings": ("street ground", ("street",), ""),
    "a distant building": ("building", ("parking lot",), ""),
    "parking lines": ("lot ground", ("parking lot",), ""),
    "harbor buildings": ("harbor", ("harbor",), ""),
    "a wooden pier": ("harbor", ("harbor",), ""),
    "an awning": ("shop", ("shop front",), ""),
    "a shop window": ("shop", ("shop front",), ""),
    "goods in a shop window": ("shop", ("shop front",), ""),
    "a window": ("interior", ("room",), ""),
    "a door": ("interior", ("room",), ""),
    "the ceiling": ("hallway", ("hallway",), ""),
    "the end of a hallway": ("hallway", ("hallway",), ""),
    "windows": ("building", ("building facade",), ""),
    "an entrance door": ("building", ("building facade",), ""),
    "tree trunks": ("forest", ("forest",), ""),
}
# object-part phrase -> (object kind, attribute the part shows or "")
OBJECT_PARTS: dict[str, tuple[str, str]] = {
    "the back of a car": ("car", ""),
    "the front of a car": ("car", ""),
    "a car window": ("car", ""),
    "a car wheel": ("car", ""),
    "the side of a bus": ("bus", ""),
    "bus windows": ("bus", ""),
    "a bus wheel": ("bus", ""),
    "a person's legs": ("person", ""),
    "a person's body": ("person", ""),
    "a person's head": ("person", ""),
    "a dark suit": ("person", "in a suit"),
    "a dog's body": ("dog", ""),
    "a dog's legs": ("dog", ""),
    "a dog's head": ("dog", ""),
    "a cat's body": ("cat", ""),
    "a cat's legs": ("cat", ""),
    "a cat's head": ("cat", ""),
    "a cat's ears": ("cat", ""),
    "a bicycle wheel": ("bicycle", ""),
    "a bicycle frame": ("bicycle", ""),
    "a cyclist": ("bicycle", "riding"),
    "a cyclist's head": ("bicycle", "riding"),
    "the hull of a boat": ("boat", ""),
    "a white sail": ("boat", ""),
    "a tree trunk": ("tree", ""),
    "the leaves of a tree": ("tree", ""),
    "a round ball": ("ball", ""),
    "a teapot spout": ("teapot", ""),
    "a teapot handle": ("teapot", ""),
    "a round teapot": ("teapot", ""),
    "a teapot lid": ("teapot", ""),
    "a bird": ("bird", ""),
    "a bird's wing": ("bird", ""),
}


@dataclass(frozen=True)
class PhraseInfo:
    """What one phrase of the vocabulary means.

    Attributes:
        concept: Object kind ("car", ...) or background class ("sky", "street ground", ...).
        places: Places this phrase is evidence for (empty for object parts).
        lighting: Lighting the phrase implies ("bright", "dim", "dark") or "" when it says nothing.
        object_kind: Object kind for object parts, "" for background.
        attribute: Attribute the part shows ("in a suit", "riding") or "".
    """

    concept: str
    places: tuple[str, ...]
    lighting: str
    object_kind: str = ""
    attribute: str = ""


def _build() -> dict[str, PhraseInfo]:
    out: dict[str, PhraseInfo] = {}
    for phrase, (concept, places) in _SURFACES.items():
        for lighting in LIGHTINGS:
            for indoor in (False, True):  # "sunlit" outdoors, "brightly lit" indoors; the dim variant is bare
                out[lit(phrase, lighting, indoor)] = PhraseInfo(concept, places, lighting)
    for phrase, (concept, places, lighting) in _FIXED.items():
        out[phrase] = PhraseInfo(concept, places, lighting)
    for phrase, (kind, attribute) in OBJECT_PARTS.items():
        out[phrase] = PhraseInfo(kind, (), "", kind, attribute)
    return out


PHRASES: dict[str, PhraseInfo] = _build()
"""Every phrase the renderer paints -> its meaning (sorted insertion: surfaces, fixed phrases, object parts)."""

CONCEPTS: tuple[str, ...] = tuple(sorted({info.concept for info in PHRASES.values()}))
"""The concepts of the neural code (object kinds and background classes), sorted."""


def concept_of(phrase: str) -> str:
    """Concept of a painted phrase.

    Raises:
        KeyError: If the phrase is not in the vocabulary (the renderer painted something unlisted).
    """
    info = PHRASES.get(phrase)
    if info is None:
        raise KeyError(
            f"phrase {phrase!r} is not in the simulated world's vocabulary (builders/simulator/vocabulary.py)"
        )
    return info.concept
