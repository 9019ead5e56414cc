"""Procedural visual world: scenes, movie shots, rendered frames, captions, patch phrases, features.

Natural Movie One is "noir" (cars, streets, dark rooms), Natural Movie Three favours people,
cyclists, groups and suits in brighter light, and natural_scenes are unrelated still scenes.
Every frame comes with a one-sentence caption and a grid of patch phrases read off the same
per-pixel phrase map the renderer painted, plus a numeric feature vector for the population model.
Shots last 0.7-2.5 s (30 frames/s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import INDOOR_PLACES, OBJECT_KINDS, PLACES, Canvas, SceneObject, draw_background, draw_object

FPS = 30.0
STYLES: dict[str, dict[str, dict[str, float]]] = {
    "noir": {
        "place": {
            "street": 3,
            "room": 2,
            "building facade": 1.5,
            "parking lot": 1,
            "harbor": 1,
            "hallway": 1,
            "shop front": 0.5,
        },
        "light": {"dark": 0.45, "dim": 0.4, "bright": 0.15},
        "object": {
            "car": 3,
            "person": 2.5,
            "bus": 0.8,
            "cat": 1,
            "dog": 0.5,
            "tree": 0.5,
            "boat": 0.7,
            "bird": 0.4,
            "bicycle": 0.3,
            "ball": 0.1,
            "teapot": 0.3,
        },
    },
    "people": {
        "place": {
            "street": 2,
            "field": 1.5,
            "building facade": 1.5,
            "room": 1,
            "shop front": 1,
            "hallway": 1,
            "beach": 1,
            "forest": 1,
        },
        "light": {"bright": 0.6, "dim": 0.3, "dark": 0.1},
        "object": {
            "person": 3.5,
            "bicycle": 2,
            "car": 0.8,
            "dog": 0.8,
            "tree": 0.7,
            "ball": 0.6,
            "bird": 0.5,
            "bus": 0.4,
            "cat": 0.4,
            "teapot": 0.3,
            "boat": 0.3,
        },
    },
    "scenes": {
        "place": dict.fromkeys(PLACES, 1.0),
        "light": {"bright": 0.4, "dim": 0.35, "dark": 0.25},
        "object": dict.fromkeys(OBJECT_KINDS, 1.0),
    },
}
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
OUTDOOR_ONLY = frozenset({"car", "bus", "boat", "tree", "bird", "bicycle"})
LEVELS = {"bright": (0.85, 1.0), "dim": (0.5, 0.7), "dark": (0.22, 0.38)}
EMISSIVE = frozenset({"a lit window", "the moon", "the sun"})
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


@dataclass(frozen=True)
class Shot:
    """A continuous stretch of one scene: objects move at constant speed, light ramps linearly.

    Attributes:
        place: One of `PLACES`.
        light_start: Light level (0.2 dark .. 1.0 bright) at the first frame.
        light_end: Light level at the last frame.
        objects: Objects in drawing order (far first).
        layout_seed: Seed fixing the background layout and texture.
        n_frames: Length in frames (30 frames/s).
    """

    place: str
    light_start: float
    light_end: float
    objects: tuple[SceneObject, ...]
    layout_seed: int
    n_frames: int


@dataclass
class StimulusFrames:
    """Rendered frames of one stimulus with ground truth.

    Attributes:
        name: "natural_movie_one", "natural_movie_three" or "natural_scenes".
        frames: uint8 (n_frames, H, W) grayscale.
        descriptions: One caption per frame.
        patch_descriptions: Per frame, gh*gw phrases in row-major patch order.
        features: float64 (n_frames, n_features), columns named by `feature_names()`.
    """

    name: str
    frames: np.ndarray
    descriptions: list[str]
    patch_descriptions: list[list[str]]
    features: np.ndarray


def feature_names() -> list[str]:
    """Names of the scene feature columns: place one-hot, light, luminance, contrast, motion, objects."""
    names = [f"place_{p}" for p in PLACES] + ["light_level", "luminance", "contrast", "motion"]
    for k in OBJECT_KINDS:
        names += [f"obj_{k}", f"obj_{k}_x", f"obj_{k}_y"]
    return names


def lighting_of(level: float) -> str:
    """Lighting category of a light level: "bright" (>= 0.75), "dim" (>= 0.44) or "dark"."""
    return "bright" if level >= 0.75 else "dim" if level >= 0.44 else "dark"


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def sample_shot(rng: np.random.Generator, style: str, n_frames: int, moving_prob: float) -> Shot:
    """Draw one random shot of a style ("noir", "people" or "scenes").

    Args:
        rng: Random generator.
        style: Key of `STYLES`.
        n_frames: Shot length in frames.
        moving_prob: Probability that an object moves (0 for still images).

    Returns:
        The shot.
    """
    st = STYLES[style]
    place = _pick(rng, st["place"])
    indoor = place in INDOOR_PLACES
    light = _pick(rng, st["light"])
    l0 = float(rng.uniform(*LEVELS[light]))
    l1 = float(rng.uniform(*LEVELS[_pick(rng, st["light"])])) if rng.random() < 0.4 else l0
    allowed = {k: w for k, w in st["object"].items() if not (indoor and k in OUTDOOR_ONLY)}
    if place not in ("harbor", "beach"):
        allowed.pop("boat", None)
    if indoor is False:
        allowed["teapot"] = allowed.get("teapot", 0) * 0.1
    objs: list[SceneObject] = []
    for _ in range(int(rng.choice(4, p=[0.1, 0.35, 0.35, 0.2]))):
        kind = _pick(rng, allowed)
        size = float(rng.uniform(*SIZE_RANGE[kind]))
        moving = rng.random() < moving_prob and kind not in ("tree", "teapot")
        attribute = ""
        if kind == "person" and rng.random() < (0.5 if style == "people" else 0.25):
            attribute = "in a suit"
        if kind == "bicycle" and rng.random() < 0.7:
            attribute = "riding"
        if kind == "bicycle" and attribute != "riding":
            moving = False
        y = float(rng.uniform(0.3, 0.5)) if kind == "bird" and moving else float(rng.uniform(0.68, 0.97))
        if kind == "boat":
            y = float(rng.uniform(0.6, 0.9)) if place == "harbor" else float(rng.uniform(0.45, 0.6))
        speed = float(rng.uniform(0.08, 0.35)) * (1 if rng.random() < 0.5 else -1) if moving else 0.0
        x0 = float(rng.uniform(0.15, 0.85))
        count = int(rng.integers(2, 4)) if kind == "person" and style == "people" and rng.random() < 0.3 else 1
        for j in range(count):
            objs.append(SceneObject(kind, x0 + 0.14 * j, y, size, float(rng.uniform(0.2, 0.95)), speed, attribute))
    objs.sort(key=lambda o: o.y)
    return Shot(place, l0, l1, tuple(objs), int(rng.integers(2**31)), n_frames)


def _noun(o: SceneObject, lo_hi: tuple[float, float]) -> str:
    lo, hi = lo_hi
    frac = (o.size - lo) / (hi - lo)
    adj = "small " if frac < 0.2 else "large " if frac > 0.8 else ""
    if o.kind == "person":
        adj = {"small ": "distant ", "large ": "tall "}.get(adj, "")
        return f"a {adj}man in a suit" if o.attribute == "in a suit" else f"a {adj}person"
    if o.kind == "bicycle" and o.attribute == "riding":
        return "a person riding a bicycle"
    article = "an" if (adj or o.kind)[0] in "aeiou" else "a"
    return f"{article} {adj}{o.kind}"


def _where(x: float) -> str:
    edges = (0.2, 0.4, 0.6, 0.8)
    words = ("at the far left", "on the left", "in the center", "on the right", "at the far right")
    return words[int(np.searchsorted(edges, x))]


def describe(place: str, lighting: str, visible: list[tuple[SceneObject, float]]) -> str:
    """One-sentence caption of a frame.

    Args:
        place: One of `PLACES`.
        lighting: "bright", "dim" or "dark".
        visible: (object, visible centroid x) for objects with enough visible pixels.

    Returns:
        E.g. "A dark street with a car parked on the left and a person walking in the center."
    """
    indoor = place in INDOOR_PLACES
    adj = {
        "bright": "brightly lit" if indoor else "sunny",
        "dim": "dimly lit" if indoor else "grey",
        "dark": "dark",
    }
    parts: list[str] = []
    people = [(o, x) for o, x in visible if o.kind == "person"]
    others = [(o, x) for o, x in visible if o.kind != "person"]
    if len(people) >= 2:
        suits = all(o.attribute == "in a suit" for o, _ in people)
        noun = ("two men in suits" if suits else "two people") if len(people) == 2 else "a group of people"
        verb = "walking" if any(o.vx for o, _ in people) else "standing"
        parts.append(f"{noun} {verb} {_where(float(np.mean([x for _, x in people])))}")
    else:
        others = people + others
    for o, x in others:
        verb = (MOVING if o.vx else STATIC).get(o.kind, "")
        if o.kind == "bicycle" and o.attribute == "riding":
            verb = ""
        words = (_noun(o, SIZE_RANGE[o.kind]), verb, _where(x))
        if o.vx and o.kind in ("car", "bus", "person", "bicycle", "boat"):
            words = (words[0], words[2], verb, f"to the {'right' if o.vx > 0 else 'left'}")
        parts.append(" ".join(w for w in words if w))
    head = f"{adj[lighting]} {place}"
    if not parts:
        return f"An empty {head}."
    article = "An" if head[0] in "aeiou" else "A"
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{article} {head} with {listed}."


def _texture(seed: int, size: int) -> np.ndarray:
    coarse = np.random.default_rng(seed).normal(0, 1, (8, 8))
    reps = int(np.ceil(size / 8))
    return np.kron(coarse, np.ones((reps, reps)))[:size, :size]


def render_shot(
    shot: Shot, size: int, grid: tuple[int, int]
) -> tuple[np.ndarray, list[str], list[list[str]], np.ndarray]:
    """Render every frame of a shot.

    Args:
        shot: The shot.
        size: Image side in pixels (H = W = size).
        grid: Patch grid (gh, gw); `size` must be divisible by both.

    Returns:
        frames float64 (n, size, size) in [0, 1], captions (n,), patch phrases (n, gh*gw),
        features float64 (n, n_features) with the motion column left at 0.
    """
    gh, gw = grid
    names = feature_names()
    texture = 0.04 * _texture(shot.layout_seed, size)
    grain = np.random.default_rng([shot.layout_seed, 1])  # film grain: no two frames identical
    backgrounds: dict[str, Canvas] = {}
    out_img = np.zeros((shot.n_frames, size, size))
    captions: list[str] = []
    patches: list[list[str]] = []
    feats = np.zeros((shot.n_frames, len(names)))
    for i in range(shot.n_frames):
        frac = i / max(shot.n_frames - 1, 1)
        level = shot.light_start + (shot.light_end - shot.light_start) * frac
        lighting = lighting_of(level)
        if lighting not in backgrounds:
            bg = Canvas(size)
            draw_background(bg, shot.place, lighting, np.random.default_rng(shot.layout_seed))
            backgrounds[lighting] = bg
        bg = backgrounds[lighting]
        cv = Canvas(size)
        cv.img, cv.part, cv.obj, cv.phrases = bg.img.copy(), bg.part.copy(), bg.obj.copy(), list(bg.phrases)
        t = i / FPS
        for j, o in enumerate(shot.objects):
            draw_object(cv, o, o.x + o.vx * t, j, 1 if o.vx >= 0 else -1)
        emissive = np.isin(cv.part, [cv.phrases.index(p) for p in EMISSIVE if p in cv.phrases])
        img = np.where(emissive, cv.img, cv.img * level) + texture * level + grain.normal(0.0, 0.012, (size, size))
        out_img[i] = np.clip(img, 0.0, 1.0)
        visible: list[tuple[SceneObject, float]] = []
        f = feats[i]
        f[names.index(f"place_{shot.place}")] = 1.0
        f[names.index("light_level")] = level
        f[names.index("luminance")] = out_img[i].mean()
        f[names.index("contrast")] = out_img[i].std()
        for j, o in enumerate(shot.objects):
            mask = cv.obj == j
            area = mask.mean()
            if area < 0.003:
                continue
            cx, cy = float(cv.u[mask].mean()), float(cv.v[mask].mean())
            visible.append((o, cx))
            col = names.index(f"obj_{o.kind}")
            if area > f[col]:
                f[col : col + 3] = (area, cx, cy)
        captions.append(describe(shot.place, lighting, visible))
        patches.append(_patch_phrases(cv, gh, gw))
    return out_img, captions, patches, feats


def _patch_phrases(cv: Canvas, gh: int, gw: int) -> list[str]:
    ph, pw = cv.size // gh, cv.size // gw
    out: list[str] = []
    for r in range(gh):
        for c in range(gw):
            part = cv.part[r * ph : (r + 1) * ph, c * pw : (c + 1) * pw]
            obj = cv.obj[r * ph : (r + 1) * ph, c * pw : (c + 1) * pw]
            pool = part[obj >= 0] if (obj >= 0).mean() >= 0.2 else part
            out.append(cv.phrases[int(np.bincount(pool.ravel()).argmax())])
    return out


def render_stimulus(name: str, n_frames: int, size: int, grid: tuple[int, int], seed: int) -> StimulusFrames:
    """Render one stimulus of the bundle.

    Args:
        name: "natural_movie_one" (noir shots), "natural_movie_three" (people shots) or
            "natural_scenes" (`n_frames` unrelated stills).
        n_frames: Number of frames (movie frames or images).
        size: Image side in pixels.
        grid: Patch grid (gh, gw).
        seed: Seed of this stimulus's content.

    Returns:
        The rendered frames with captions, patch phrases and features (motion = mean absolute
        frame-to-frame change in [0, 1], 0 for the first frame and for still images).

    Raises:
        ValueError: If `name` is unknown or `size` is not divisible by the patch grid.
    """
    if size % grid[0] or size % grid[1]:
        raise ValueError(f"image_size: expected a multiple of patch_grid {grid}, found {size}")
    style = {"natural_movie_one": "noir", "natural_movie_three": "people", "natural_scenes": "scenes"}.get(name)
    if style is None:
        raise ValueError(f"stimulus name: expected a natural movie or natural_scenes, found {name!r}")
    rng = np.random.default_rng(seed)
    chunks: list[tuple[np.ndarray, list[str], list[list[str]], np.ndarray]] = []
    done = 0
    while done < n_frames:
        length = 1 if style == "scenes" else min(int(rng.integers(20, 76)), n_frames - done)
        shot = sample_shot(rng, style, length, 0.0 if style == "scenes" else 0.55)
        chunks.append(render_shot(shot, size, grid))
        done += length
    frames = np.concatenate([c[0] for c in chunks])
    feats = np.concatenate([c[3] for c in chunks])
    if style != "scenes":
        feats[1:, feature_names().index("motion")] = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
    return StimulusFrames(
        name=name,
        frames=np.round(frames * 255).astype(np.uint8),
        descriptions=[d for c in chunks for d in c[1]],
        patch_descriptions=[p for c in chunks for p in c[2]],
        features=feats,
    )
