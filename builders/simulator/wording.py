"""Captions of simulated frames: one sentence per frame in one of `N_WORDINGS` wordings.

Five sentence templates x two synonym sets (lighting adjectives, "pedestrian" / "cyclist"), drawn per frame by
`world.render_shot`; wording 0 is the canonical one, which the phrase narrator's grammar also uses.
"""

from __future__ import annotations

import numpy as np

from .render import INDOOR_PLACES, SceneObject

SIZE_RANGE: dict[str, tuple[float, float]] = {
    "car": (0.15, 0.32),
    "bus": (0.25, 0.4),
    "person": (0.25, 0.55),
    "dog": (0.12, 0.25),
    "cat": (0.1, 0.2),
    "bicycle": (0.15, 0.28),
    "boat": (0.15, 0.3),
    "tree": (0.4, 0.7),
    "ball": (0.06, 0.15),
    "teapot": (0.1, 0.2),
    "bird": (0.05, 0.1),
}
MOVING = {
    "car": "driving",
    "bus": "driving",
    "person": "walking",
    "dog": "running",
    "cat": "walking",
    "bicycle": "",
    "boat": "sailing",
    "bird": "flying",
    "ball": "rolling",
}
STATIC = {
    "car": "parked",
    "bus": "stopped",
    "person": "standing",
    "dog": "sitting",
    "cat": "sitting",
    "bicycle": "leaning",
    "boat": "moored",
    "bird": "perched",
    "ball": "lying",
}
N_WORDINGS = 10
"""Caption wordings per content: 5 sentence templates x 2 synonym sets (`describe`'s ``wording``)."""


def _noun(o: SceneObject, lo_hi: tuple[float, float], synonyms: int) -> str:
    lo, hi = lo_hi
    frac = (o.size - lo) / (hi - lo)
    adj = "small " if frac < 0.2 else "large " if frac > 0.8 else ""
    if o.kind == "person":
        adj = {"small ": "distant ", "large ": "tall "}.get(adj, "")
        if o.attribute == "in a suit":
            return f"a {adj}man in a suit"
        return f"a {adj}{'pedestrian' if synonyms else 'person'}"
    if o.kind == "bicycle" and o.attribute == "riding":
        return "a cyclist" if synonyms else "a person riding a bicycle"
    article = "an" if (adj or o.kind)[0] in "aeiou" else "a"
    return f"{article} {adj}{o.kind}"


def where_word(x: float) -> str:
    """Position words of a horizontal screen position in [0, 1] ("at the far left" .. "at the far right")."""
    edges = (0.2, 0.4, 0.6, 0.8)
    words = ("at the far left", "on the left", "in the center", "on the right", "at the far right")
    return words[int(np.searchsorted(edges, x))]


LIGHTING_WORDS = {
    # (outdoor, indoor) adjectives per lighting; index 1 of each pair is the synonym wording
    "bright": (("sunny", "sunlit"), ("brightly lit", "well-lit")),
    "dim": (("grey", "overcast"), ("dimly lit", "gloomy")),
    "dark": (("dark", "night-time"), ("dark", "unlit")),
}


def lighting_word(lighting: str, indoor: bool, synonyms: int = 0) -> str:
    """The caption adjective of a lighting ("dark", "sunny", "dimly lit", ...)."""
    return LIGHTING_WORDS[lighting][int(indoor)][synonyms]


def describe(place: str, lighting: str, visible: list[tuple[SceneObject, float]], wording: int = 0) -> str:
    """One-sentence caption of a frame.

    Args:
        place: One of `PLACES`.
        lighting: "bright", "dim" or "dark".
        visible: (object, visible centroid x on screen) for objects with enough visible pixels.
        wording: 0..N_WORDINGS-1: sentence template (``wording % 5``) and synonym set (``wording // 5``);
            0 is the canonical wording.

    Returns:
        E.g. "A dark street with a car parked on the left and a person walking in the center." (wording 0),
        "In a night-time street, a car parked on the left and a pedestrian walking in the center." (wording 8).
    """
    template, synonyms = wording % 5, (wording // 5) % 2
    indoor = place in INDOOR_PLACES
    parts: list[str] = []
    people = [(o, x) for o, x in visible if o.kind == "person"]
    others = [(o, x) for o, x in visible if o.kind != "person"]
    if len(people) >= 2:
        suits = all(o.attribute == "in a suit" for o, _ in people)
        noun = ("two men in suits" if suits else "two people") if len(people) == 2 else "a group of people"
        verb = "walking" if any(o.vx for o, _ in people) else "standing"
        parts.append(f"{noun} {verb} {where_word(float(np.mean([x for _, x in people])))}")
    else:
        others = people + others
    for o, x in others:
        verb = (MOVING if o.vx else STATIC).get(o.kind, "")
        if o.kind == "bicycle" and o.attribute == "riding":
            verb = ""
        words = (_noun(o, SIZE_RANGE[o.kind], synonyms), verb, where_word(x))
        if o.vx and o.kind in ("car", "bus", "person", "bicycle", "boat"):
            words = (words[0], words[2], verb, f"to the {'right' if o.vx > 0 else 'left'}")
        parts.append(" ".join(w for w in words if w))
    head = f"{lighting_word(lighting, indoor, synonyms)} {place}"
    article = "An" if head[0] in "aeiou" else "A"
    if not parts:
        empty = (
            f"An empty {head}.",
            f"{article} {head} with no one in it.",
            f"Nothing but {article.lower()} {head}.",
            f"A deserted {head}.",
            f"A quiet {head}, nobody around.",
        )
        return empty[template]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    sentences = (
        f"{article} {head} with {listed}.",
        f"{listed[0].upper()}{listed[1:]} in {article.lower()} {head}.",
        f"There is {listed} in {article.lower()} {head}.",
        f"In {article.lower()} {head}, {listed}.",
        f"A scene of {article.lower()} {head} with {listed}.",
    )
    return sentences[template]
