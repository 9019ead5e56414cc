"""Draw one scene state as a small grayscale image with a per-pixel map of what each pixel shows.

Pure numpy: shapes are boolean masks on a normalized grid (u = x/W, v = y/H, both in [0, 1],
v = 0 at the top). Every painted pixel records a short phrase ("the front of a car", "dark sky")
and an object index, so captions and patch phrases stay consistent with the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OBJECT_KINDS: tuple[str, ...] = (
    "car",
    "bus",
    "person",
    "dog",
    "cat",
    "bicycle",
    "boat",
    "tree",
    "ball",
    "teapot",
    "bird",
)
PLACES: tuple[str, ...] = (
    "street",
    "room",
    "parking lot",
    "field",
    "forest",
    "beach",
    "harbor",
    "building facade",
    "shop front",
    "hallway",
)
INDOOR_PLACES: frozenset[str] = frozenset({"room", "hallway"})


@dataclass(frozen=True)
class SceneObject:
    """One object in a scene (coordinates are fractions of the image side).

    Attributes:
        kind: One of `OBJECT_KINDS`.
        x: Horizontal centre at shot start, 0 = left edge, 1 = right edge.
        y: Ground line (bottom of the object), 0 = top, 1 = bottom.
        size: Object height as a fraction of the image height.
        brightness: Base intensity in [0, 1].
        vx: Horizontal speed in image widths per second (0 = static).
        attribute: Free qualifier used in captions ("in a suit", "riding" ...), "" if none.
    """

    kind: str
    x: float
    y: float
    size: float
    brightness: float
    vx: float = 0.0
    attribute: str = ""


@dataclass
class Canvas:
    """Image under construction plus the phrase and object index of every pixel.

    ``x_offset`` is the camera's horizontal position: pixel column ``j`` shows world coordinate
    ``u = (j + 0.5) / size + x_offset``, so a camera pan is a changing offset (backgrounds extend over
    ``u`` in [-0.7, 1.7]).
    """

    size: int
    x_offset: float = 0.0
    img: np.ndarray = field(init=False)
    part: np.ndarray = field(init=False)
    obj: np.ndarray = field(init=False)
    phrases: list[str] = field(default_factory=list)
    u: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        grid = (np.arange(self.size) + 0.5) / self.size
        self.v, self.u = np.meshgrid(grid, grid + self.x_offset, indexing="ij")
        self.img = np.zeros((self.size, self.size))
        self.part = np.zeros((self.size, self.size), dtype=np.int32)
        self.obj = np.full((self.size, self.size), -1, dtype=np.int32)

    def paint(self, mask: np.ndarray, value: float | np.ndarray, phrase: str, obj: int = -1) -> None:
        """Set pixels under `mask` to `value` and record their phrase and object index."""
        if phrase not in self.phrases:
            self.phrases.append(phrase)
        self.img[mask] = value if np.isscalar(value) else np.asarray(value)[mask]
        self.part[mask] = self.phrases.index(phrase)
        self.obj[mask] = obj

    def rect(self, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        """Axis-aligned box mask."""
        return (self.u >= x0) & (self.u < x1) & (self.v >= y0) & (self.v < y1)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
        """Filled ellipse mask."""
        return ((self.u - cx) / max(rx, 1e-6)) ** 2 + ((self.v - cy) / max(ry, 1e-6)) ** 2 <= 1.0

    def segment(self, x0: float, y0: float, x1: float, y1: float, width: float) -> np.ndarray:
        """Thick line segment mask."""
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((self.u - x0) * dx + (self.v - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
        return (self.u - x0 - t * dx) ** 2 + (self.v - y0 - t * dy) ** 2 <= (width / 2) ** 2

    def triangle(self, pts: tuple[tuple[float, float], ...]) -> np.ndarray:
        """Filled triangle mask from three (x, y) corners."""
        (ax, ay), (bx, by), (cx, cy) = pts

        def side(px: float, py: float, qx: float, qy: float) -> np.ndarray:
            return (self.u - qx) * (py - qy) - (px - qx) * (self.v - qy)

        d1, d2, d3 = side(ax, ay, bx, by), side(bx, by, cx, cy), side(cx, cy, ax, ay)
        neg = (d1 < 0) | (d2 < 0) | (d3 < 0)
        pos = (d1 > 0) | (d2 > 0) | (d3 > 0)
        return ~(neg & pos)


def _sky_phrase(lighting: str) -> str:
    return {"bright": "bright sky", "dim": "grey sky", "dark": "dark night sky"}[lighting]


def lit(phrase: str, lighting: str, indoor: bool) -> str:
    """A surface phrase under a lighting: "the road" -> "the dark road" / "the road" / "the sunlit road"."""
    adj = {"dark": "dark", "dim": "", "bright": "brightly lit" if indoor else "sunlit"}[lighting]
    if not adj:
        return phrase
    article, _, noun = phrase.partition(" ")
    if article not in ("a", "an", "the"):
        return f"{adj} {phrase}"
    if article != "the":
        article = "an" if adj[0] in "aeiou" else "a"
    return f"{article} {adj} {noun}"


def draw_background(cv: Canvas, place: str, lighting: str, rng: np.random.Generator) -> None:
    """Paint the place (street, room, ...) over the whole canvas.

    Args:
        cv: Canvas to paint on.
        place: One of `PLACES`.
        lighting: "bright", "dim" or "dark" (changes a few phrases, not intensities).
        rng: Fixes the random layout (building heights, window grid, trunk positions).
    """
    dark = lighting == "dark"
    indoor = place in INDOOR_PLACES

    def sur(phrase: str) -> str:
        return lit(phrase, lighting, indoor)

    wall = sur("a wall")
    every = np.ones_like(cv.img, dtype=bool)
    if place in ("street", "parking lot", "field", "beach", "harbor", "shop front"):
        horizon = {"street": 0.35, "parking lot": 0.4, "field": 0.45, "beach": 0.35, "harbor": 0.3}.get(place, 0.2)
        cv.paint(every, 0.75 - 0.4 * cv.v, _sky_phrase(lighting))
    if place == "street":
        for x0 in np.arange(-0.8, 1.8, 0.2):
            top = float(rng.uniform(0.08, 0.3))
            cv.paint(cv.rect(x0, x0 + 0.19, top, 0.6), float(rng.uniform(0.25, 0.5)), sur("a building"))
            for wy in np.arange(top + 0.04, 0.52, 0.09):
                lit_up = dark and rng.random() < 0.4
                cv.paint(
                    cv.rect(x0 + 0.04, x0 + 0.08, wy, wy + 0.04),
                    0.95 if lit_up else 0.2,
                    "a lit window" if lit_up else sur("a building"),
                )
        cv.paint(cv.rect(-2, 3, 0.6, 0.72), 0.55, sur("the sidewalk"))
        cv.paint(cv.rect(-2, 3, 0.72, 1.01), 0.3, sur("the road"))
        cv.paint(cv.rect(-2, 3, 0.84, 0.86) & ((cv.u * 8) % 1 < 0.5), 0.85, "road markings")
    elif place == "parking lot":
        cv.paint(cv.rect(-0.6, 0.0, 0.25, horizon), 0.3, "a distant building")
        cv.paint(cv.rect(0.1, 0.7, 0.2, horizon), 0.35, "a distant building")
        cv.paint(cv.rect(0.9, 1.5, 0.28, horizon), 0.3, "a distant building")
        cv.paint(cv.rect(-2, 3, horizon, 1.01), 0.4, sur("asphalt"))
        cv.paint(cv.rect(-2, 3, 0.6, 1.01) & ((cv.u * 6) % 1 < 0.06), 0.9, "parking lines")
    elif place == "field":
        cv.paint(cv.rect(-2, 3, horizon, 1.01), 0.45 + 0.08 * np.sin(cv.u * 40 + cv.v * 9), sur("grass"))
        cv.paint(cv.ellipse(0.8, 0.12, 0.07, 0.07), 0.98, "the sun" if lighting == "bright" else "the moon")
    elif place == "beach":
        cv.paint(cv.rect(-2, 3, horizon, 0.6), 0.35 + 0.05 * np.sin(cv.u * 30), sur("the sea"))
        cv.paint(cv.rect(-2, 3, 0.6, 1.01), 0.7, sur("sand"))
    elif place == "harbor":
        cv.paint(cv.rect(-2, 3, 0.2, 0.55) & ((cv.u * 5) % 1 < 0.8), 0.3, "harbor buildings")
        cv.paint(cv.rect(-2, 3, 0.55, 1.01), 0.25 + 0.05 * np.sin(cv.v * 60), sur("harbor water"))
        cv.paint(cv.rect(0.6, 1.0, 0.7, 0.78), 0.55, "a wooden pier")
    elif place == "shop front":
        cv.paint(cv.rect(-2, 3, 0.15, 0.75), 0.5, wall)
        for ox in (-1.0, 0.0, 1.0):
            cv.paint(cv.rect(ox + 0.1, ox + 0.9, 0.15, 0.25), 0.2, "an awning")
            cv.paint(cv.rect(ox + 0.15, ox + 0.85, 0.3, 0.7), 0.85 if not dark else 0.7, "a shop window")
        for sx in (-0.75, -0.55, -0.35, 0.25, 0.45, 0.65, 1.25, 1.45, 1.65):
            cv.paint(cv.rect(sx, sx + 0.1, 0.5, 0.7), 0.35, "goods in a shop window")
        cv.paint(cv.rect(-2, 3, 0.75, 1.01), 0.55, sur("the sidewalk"))
    elif place == "room":
        cv.paint(every, 0.6, wall)
        cv.paint(cv.rect(-2, 3, 0.65, 1.01), 0.4 + 0.1 * ((cv.u * 6 + cv.v * 3) % 1 < 0.5), sur("the floor"))
        wx = float(rng.uniform(0.1, 0.6))
        cv.paint(cv.rect(wx, wx + 0.25, 0.15, 0.45), 0.15 if dark else 0.95, "a window")
        cv.paint(
            cv.rect(wx + 0.3, wx + 0.45, 0.3, 0.65) if wx < 0.45 else cv.rect(0.05, 0.2, 0.3, 0.65),
            0.3,
            "a door",
        )
    elif place == "hallway":
        cv.paint(every, 0.55, sur("a corridor wall"))
        cv.paint(cv.triangle(((0, 1), (1, 1), (0.5, 0.45))), 0.4, sur("the floor"))
        cv.paint(cv.triangle(((0, 0), (1, 0), (0.5, 0.45))), 0.7, "the ceiling")
        cv.paint(cv.rect(0.42, 0.58, 0.33, 0.55), 0.15 if dark else 0.9, "the end of a hallway")
    elif place == "building facade":
        cv.paint(every, 0.5, sur("a building facade"))
        for wx in np.arange(-0.67, 1.7, 0.18):
            for wy in np.arange(0.05, 0.7, 0.2):
                lit_up = rng.random() < (0.5 if dark else 0.1)
                cv.paint(
                    cv.rect(wx, wx + 0.1, wy, wy + 0.12),
                    0.95 if lit_up else 0.2,
                    "a lit window" if lit_up else "windows",
                )
        cv.paint(cv.rect(0.4, 0.6, 0.75, 1.01), 0.15, "an entrance door")
    elif place == "forest":
        cv.paint(every, 0.3, sur("the foliage"))
        cv.paint(cv.rect(-2, 3, 0.8, 1.01), 0.35, sur("the forest floor"))
        for tx in rng.uniform(-0.7, 1.7, 14):
            cv.paint(cv.rect(tx, tx + 0.05, 0.1, 0.85), 0.15, "tree trunks")


def draw_object(cv: Canvas, o: SceneObject, x: float, index: int, facing: int) -> None:
    """Paint one object at horizontal centre `x` with part phrases ("a car wheel", "a person's legs").

    Args:
        cv: Canvas to paint on.
        o: The object.
        x: Current horizontal centre (image widths).
        index: Object index recorded in `cv.obj`.
        facing: +1 when the object faces right, -1 when it faces left.
    """
    h, y, b, k = o.size, o.y, o.brightness, o.kind
    if k in ("car", "bus"):
        w = h * (2.2 if k == "car" else 3.4)
        body = cv.rect(x - w / 2, x + w / 2, y - 0.6 * h, y - 0.12 * h)
        if k == "car":
            front = body & ((cv.u - x) * facing > 0)
            cv.paint(body & ~front, b, "the back of a car", index)
            cv.paint(front, b, "the front of a car", index)
            cabin = cv.rect(x - 0.3 * w, x + 0.25 * w, y - h, y - 0.6 * h)
            cv.paint(cabin, 0.6 * b + 0.15, "a car window", index)
        else:
            cv.paint(cv.rect(x - w / 2, x + w / 2, y - h, y - 0.12 * h), b, "the side of a bus", index)
            for wx in np.arange(x - 0.45 * w, x + 0.4 * w, 0.16 * w):
                cv.paint(cv.rect(wx, wx + 0.11 * w, y - 0.9 * h, y - 0.6 * h), 0.8 * b + 0.15, "bus windows", index)
        for wx in (x - 0.3 * w, x + 0.3 * w):
            cv.paint(cv.ellipse(wx, y - 0.15 * h, 0.16 * h, 0.16 * h), 0.08, f"a {k} wheel", index)
    elif k == "person":
        suit = "suit" in o.attribute
        cv.paint(cv.rect(x - 0.13 * h, x - 0.02 * h, y - 0.45 * h, y), 0.6 * b, "a person's legs", index)
        cv.paint(cv.rect(x + 0.02 * h, x + 0.13 * h, y - 0.45 * h, y), 0.6 * b, "a person's legs", index)
        torso = cv.rect(x - 0.16 * h, x + 0.16 * h, y - 0.82 * h, y - 0.43 * h)
        cv.paint(torso, 0.12 if suit else b, "a dark suit" if suit else "a person's body", index)
        cv.paint(cv.ellipse(x, y - 0.9 * h, 0.1 * h, 0.1 * h), min(1.0, b + 0.2), "a person's head", index)
    elif k in ("dog", "cat"):
        cv.paint(cv.ellipse(x, y - 0.5 * h, 0.5 * h, 0.25 * h), b, f"a {k}'s body", index)
        for lx in (x - 0.35 * h, x + 0.3 * h):
            cv.paint(cv.rect(lx, lx + 0.08 * h, y - 0.35 * h, y), 0.8 * b, f"a {k}'s legs", index)
        hx = x + facing * 0.5 * h
        cv.paint(cv.ellipse(hx, y - 0.8 * h, 0.2 * h, 0.2 * h), b, f"a {k}'s head", index)
        if k == "cat":
            for ex in (hx - 0.12 * h, hx + 0.04 * h):
                cv.paint(
                    cv.triangle(((ex, y - 0.92 * h), (ex + 0.08 * h, y - 0.92 * h), (ex + 0.04 * h, y - 1.08 * h))),
                    b,
                    "a cat's ears",
                    index,
                )
    elif k == "bicycle":
        for wx in (x - 0.45 * h, x + 0.45 * h):
            ring = cv.ellipse(wx, y - 0.3 * h, 0.3 * h, 0.3 * h) & ~cv.ellipse(wx, y - 0.3 * h, 0.22 * h, 0.22 * h)
            cv.paint(ring, 0.1, "a bicycle wheel", index)
        frame = cv.segment(x - 0.45 * h, y - 0.3 * h, x, y - 0.65 * h, 0.06 * h) | cv.segment(
            x, y - 0.65 * h, x + 0.45 * h, y - 0.3 * h, 0.06 * h
        )
        cv.paint(frame, b, "a bicycle frame", index)
        if "riding" in o.attribute:
            cv.paint(cv.rect(x - 0.15 * h, x + 0.15 * h, y - 1.25 * h, y - 0.7 * h), b, "a cyclist", index)
            cv.paint(cv.ellipse(x, y - 1.35 * h, 0.12 * h, 0.12 * h), min(1.0, b + 0.2), "a cyclist's head", index)
    elif k == "boat":
        w = 2.0 * h
        hull = cv.triangle(((x - w / 2, y - 0.35 * h), (x + w / 2, y - 0.35 * h), (x + w / 3, y))) | cv.rect(
            x - w / 2, x + w / 3, y - 0.35 * h, y
        )
        cv.paint(hull, b, "the hull of a boat", index)
        cv.paint(
            cv.triangle(((x, y - 0.4 * h), (x, y - 1.2 * h), (x + 0.5 * h, y - 0.4 * h))),
            min(1.0, b + 0.3),
            "a white sail",
            index,
        )
    elif k == "tree":
        cv.paint(cv.rect(x - 0.07 * h, x + 0.07 * h, y - 0.5 * h, y), 0.2, "a tree trunk", index)
        cv.paint(cv.ellipse(x, y - 0.7 * h, 0.35 * h, 0.32 * h), b, "the leaves of a tree", index)
    elif k == "ball":
        cv.paint(cv.ellipse(x, y - 0.5 * h, 0.5 * h, 0.5 * h), b, "a round ball", index)
        cv.paint(cv.ellipse(x - 0.15 * h, y - 0.65 * h, 0.12 * h, 0.12 * h), 1.0, "a round ball", index)
    elif k == "teapot":
        cv.paint(
            cv.segment(x + 0.4 * h, y - 0.4 * h, x + 0.75 * h, y - 0.75 * h, 0.1 * h),
            b,
            "a teapot spout",
            index,
        )
        handle = cv.ellipse(x - 0.5 * h, y - 0.45 * h, 0.2 * h, 0.2 * h) & ~cv.ellipse(
            x - 0.5 * h, y - 0.45 * h, 0.12 * h, 0.12 * h
        )
        cv.paint(handle, b, "a teapot handle", index)
        cv.paint(cv.ellipse(x, y - 0.4 * h, 0.45 * h, 0.4 * h), b, "a round teapot", index)
        cv.paint(cv.ellipse(x, y - 0.82 * h, 0.12 * h, 0.06 * h), 0.8 * b, "a teapot lid", index)
    elif k == "bird":
        cv.paint(cv.ellipse(x, y - 0.5 * h, 0.45 * h, 0.25 * h), b, "a bird", index)
        cv.paint(
            cv.triangle(((x - 0.2 * h, y - 0.6 * h), (x + 0.2 * h, y - 0.6 * h), (x, y - 1.1 * h))),
            b,
            "a bird's wing",
            index,
        )
    else:
        raise ValueError(f"SceneObject.kind: expected one of {OBJECT_KINDS}, found {k!r}")
