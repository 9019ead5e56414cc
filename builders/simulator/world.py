"""Procedural visual world: movie shots with frame-level change, captions in varied wording, patch contents.

Natural Movie One is "noir" (streets, rooms, harbors, mostly dark), Natural Movie Three favours people,
cyclists and brighter light, and natural_scenes are unrelated stills. Within a shot, objects move, enter and
leave, the camera pans and the light ramps, so what each patch shows (and the caption) changes from frame to
frame, as BLIP-2 captions of a real movie do.

Composition: places, lightings and objects are drawn from *decks* (every item once per cycle, heavier items
earlier), so the whole vocabulary recurs across a movie in changing combinations, and
:func:`render_stimulus` re-draws a stimulus until every place, lighting and object (with its attribute) shown
in any task's held-out frames also appears in that task's training frames (:data:`neurrator_bench.tasks.TASKS`).

Every frame comes with:

- a one-sentence caption (one of several phrasings, drawn per frame, with synonyms);
- per patch, the dominant phrase and the **mixture** of the phrases it shows (weights = visible area, object
  pixels counted three times, top three kept), read off the per-pixel phrase map the renderer painted;
- a numeric feature vector for the population model: place, light, luminance, contrast, motion, object areas
  and positions, and the area of every concept (:data:`.vocabulary.CONCEPTS`) in the frame and in each patch.
Shots last 0.6-1.5 s (30 frames/s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import INDOOR_PLACES, OBJECT_KINDS, PLACES, Canvas, SceneObject, draw_background, draw_object
from .vocabulary import CONCEPTS, PHRASES
from .wording import N_WORDINGS, SIZE_RANGE, describe

FPS = 30.0
STYLES: dict[str, dict[str, dict[str, float]]] = {
    "noir": {
        "place": {
            "street": 1.5,
            "room": 1.2,
            "parking lot": 1,
            "harbor": 1,
            "hallway": 1,
            "building facade": 1,
            "shop front": 1,
            "forest": 1,
        },
        "light": {"dark": 0.45, "dim": 0.35, "bright": 0.2},
        "object": {
            "car": 1.5,
            "person": 1.5,
            "bus": 1,
            "cat": 1,
            "dog": 1,
            "boat": 1,
            "bicycle": 1,
            "bird": 1,
            "tree": 1,
        },
    },
    "people": {
        "place": {
            "street": 1.5,
            "field": 1,
            "building facade": 1,
            "room": 1,
            "shop front": 1,
            "hallway": 1,
            "beach": 1,
            "forest": 1,
        },
        "light": {"bright": 0.6, "dim": 0.3, "dark": 0.1},
        "object": {
            "person": 2,
            "bicycle": 1.5,
            "car": 1,
            "dog": 1,
            "tree": 1,
            "ball": 1,
            "bird": 1,
            "bus": 1,
            "cat": 1,
            "teapot": 1,
            "boat": 1,
        },
    },
    "scenes": {
        "place": dict.fromkeys(PLACES, 1.0),
        "light": {"bright": 0.4, "dim": 0.35, "dark": 0.25},
        "object": dict.fromkeys(OBJECT_KINDS, 1.0),
    },
}
OUTDOOR_ONLY = frozenset({"car", "bus", "boat", "tree", "bird", "bicycle"})
WATER_PLACES = frozenset({"harbor", "beach"})
LEVELS = {"bright": (0.85, 1.0), "dim": (0.5, 0.7), "dark": (0.22, 0.38)}
EMISSIVE = frozenset({"a lit window", "the moon", "the sun"})
MIXTURE_TOP = 3
VISIBLE_AREA = 0.008
"""An object is captioned (and counted as shown) from this fraction of the frame on (an eighth of a 4x4 patch)."""
OBJECT_SALIENCE = 3.0


@dataclass(frozen=True)
class Shot:
    """A continuous stretch of one scene: objects and camera move at constant speed, light ramps linearly.

    Attributes:
        place: One of `PLACES`.
        light_start: Light level (0.2 dark .. 1.0 bright) at the first frame.
        light_end: Light level at the last frame.
        objects: Objects in drawing order (far first), x in world coordinates at the shot's start.
        layout_seed: Seed fixing the background layout, texture and the per-frame caption wording.
        n_frames: Length in frames (30 frames/s).
        pan: Camera speed in image widths per second (0 = fixed camera).
    """

    place: str
    light_start: float
    light_end: float
    objects: tuple[SceneObject, ...]
    layout_seed: int
    n_frames: int
    pan: float = 0.0


@dataclass
class StimulusFrames:
    """Rendered frames of one stimulus with ground truth.

    Attributes:
        name: "natural_movie_one", "natural_movie_three" or "natural_scenes".
        frames: uint8 (n_frames, H, W) grayscale.
        descriptions: One caption per frame.
        patch_descriptions: Per frame, gh*gw dominant phrases in row-major patch order.
        patch_mixtures: Per frame, gh*gw {phrase: weight} mixtures (weights sum to 1), row-major.
        features: float64 (n_frames, n_features), columns named by `feature_names(grid)`.
        tokens: Per frame, the vocabulary it shows: "place:<p>", "light:<l>", "object:<kind>[:<attr>]".
    """

    name: str
    frames: np.ndarray
    descriptions: list[str]
    patch_descriptions: list[list[str]]
    patch_mixtures: list[list[dict[str, float]]]
    features: np.ndarray
    tokens: list[frozenset[str]]


def feature_names(grid: tuple[int, int] = (4, 4)) -> list[str]:
    """Names of the scene feature columns.

    Place one-hot, light, luminance, contrast, motion, per object kind (area, x, y) of its largest instance,
    then ``area_<concept>`` (fraction of the frame) and ``pc_<concept>_<r>_<c>`` (fraction of patch r, c)
    for every concept of :data:`.vocabulary.CONCEPTS`.
    """
    names = [f"place_{p}" for p in PLACES] + ["light_level", "luminance", "contrast", "motion"]
    for k in OBJECT_KINDS:
        names += [f"obj_{k}", f"obj_{k}_x", f"obj_{k}_y"]
    names += [f"area_{c}" for c in CONCEPTS]
    names += [f"pc_{c}_{r}_{q}" for c in CONCEPTS for r in range(grid[0]) for q in range(grid[1])]
    return names


def lighting_of(level: float) -> str:
    """Lighting category of a light level: "bright" (>= 0.75), "dim" (>= 0.44) or "dark"."""
    return "bright" if level >= 0.75 else "dim" if level >= 0.44 else "dark"


class _Deck:
    """Draws every key once per cycle, in a weighted random order (heavier keys tend to come first)."""

    def __init__(self, rng: np.random.Generator, weights: dict[str, float]) -> None:
        self.rng = rng
        self.keys = sorted(k for k, w in weights.items() if w > 0)
        self.p = np.array([weights[k] for k in self.keys], dtype=float)
        self.p /= self.p.sum()
        self.left: list[str] = []

    def _refill(self) -> None:
        order = self.rng.choice(len(self.keys), size=len(self.keys), replace=False, p=self.p)
        self.left += [self.keys[i] for i in order]

    def draw(self, allowed: frozenset[str] | None = None) -> str | None:
        for _ in range(2):
            for key in self.left:
                if allowed is None or key in allowed:
                    self.left.remove(key)
                    return key
            self._refill()
        return None


def _allowed_objects(place: str, kinds: list[str]) -> frozenset[str]:
    indoor = place in INDOOR_PLACES
    return frozenset(
        k
        for k in kinds
        if not (indoor and k in OUTDOOR_ONLY)
        and not (k == "boat" and place not in WATER_PLACES)
        and not (k == "teapot" and not indoor)
    )


class ShotSampler:
    """Draws the shots of one stimulus from decks of places, lightings and objects.

    Args:
        rng: Random generator.
        style: Key of `STYLES`.
        moving_prob: Probability that an object moves (0 for still images).
        pan_prob: Probability that the camera pans during a shot.
    """

    def __init__(self, rng: np.random.Generator, style: str, moving_prob: float, pan_prob: float) -> None:
        st = STYLES[style]
        self.rng, self.style, self.moving_prob, self.pan_prob = rng, style, moving_prob, pan_prob
        self.places, self.lights, self.objects = (
            _Deck(rng, st["place"]),
            _Deck(rng, st["light"]),
            _Deck(rng, st["object"]),
        )
        self.kinds = sorted(st["object"])

    def sample(self, n_frames: int) -> Shot:
        """One shot of ``n_frames`` frames."""
        rng = self.rng
        place = self.places.draw()
        if place is None:
            raise ValueError(f"style {self.style!r}: no place with a positive weight")
        l0 = float(rng.uniform(*LEVELS[self.lights.draw() or "dim"]))
        l1 = float(rng.uniform(*LEVELS[self.lights.draw() or "dim"])) if rng.random() < 0.6 else l0
        allowed = _allowed_objects(place, self.kinds)
        still = self.moving_prob == 0
        n_obj = (
            int(rng.choice(4, p=[0.1, 0.35, 0.35, 0.2])) if still else int(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25]))
        )
        objs: list[SceneObject] = []
        for _ in range(n_obj):
            kind = self.objects.draw(allowed)
            if kind is None:
                break
            objs += self._object(kind, place)
        objs.sort(key=lambda o: o.y)
        pan = 0.0
        if rng.random() < self.pan_prob:
            pan = float(rng.uniform(0.05, 0.2)) * (1 if rng.random() < 0.5 else -1)
        return Shot(place, l0, l1, tuple(objs), int(rng.integers(2**31)), n_frames, pan)

    def _object(self, kind: str, place: str) -> list[SceneObject]:
        rng = self.rng
        size = float(rng.uniform(*SIZE_RANGE[kind]))
        moving = rng.random() < self.moving_prob and kind not in ("tree", "teapot")
        attribute = ""
        if kind == "person" and rng.random() < (0.5 if self.style == "people" else 0.3):
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
        if moving and rng.random() < 0.35:  # enters the frame from the side it moves away from
            speed = float(np.sign(speed)) * float(rng.uniform(0.3, 0.5))
            x0 = -0.15 if speed > 0 else 1.15
        count = 1
        if kind == "person" and self.style == "people" and rng.random() < 0.3:
            count = int(rng.integers(2, 4))
        return [
            SceneObject(kind, x0 + 0.14 * j, y, size, float(rng.uniform(0.2, 0.95)), speed, attribute)
            for j in range(count)
        ]


def sample_shot(rng: np.random.Generator, style: str, n_frames: int, moving_prob: float) -> Shot:
    """Draw one random shot of a style ("noir", "people" or "scenes") with a fresh sampler.

    Args:
        rng: Random generator.
        style: Key of `STYLES`.
        n_frames: Shot length in frames.
        moving_prob: Probability that an object moves (0 for still images, which also never pan).

    Returns:
        The shot.
    """
    return ShotSampler(rng, style, moving_prob, 0.0 if moving_prob == 0 else 0.5).sample(n_frames)


def _texture(seed: int, size: int) -> np.ndarray:
    coarse = np.random.default_rng(seed).normal(0, 1, (8, 8))
    reps = int(np.ceil(size / 8))
    return np.kron(coarse, np.ones((reps, reps)))[:size, :size]


@dataclass
class _ShotRender:
    frames: np.ndarray
    captions: list[str]
    patches: list[list[str]]
    mixtures: list[list[dict[str, float]]]
    features: np.ndarray
    tokens: list[frozenset[str]]


def render_shot(shot: Shot, size: int, grid: tuple[int, int]) -> _ShotRender:
    """Render every frame of a shot.

    Args:
        shot: The shot.
        size: Image side in pixels (H = W = size).
        grid: Patch grid (gh, gw); `size` must be divisible by both.

    Returns:
        frames float64 (n, size, size) in [0, 1], captions, dominant patch phrases, patch mixtures,
        features (motion column left at 0) and vocabulary tokens of each frame.
    """
    gh, gw = grid
    names = feature_names(grid)
    col = {n: i for i, n in enumerate(names)}
    texture = 0.04 * _texture(shot.layout_seed, size)
    grain = np.random.default_rng([shot.layout_seed, 1])  # film grain: no two frames identical
    wordings = np.random.default_rng([shot.layout_seed, 2]).integers(0, N_WORDINGS, shot.n_frames)
    backgrounds: dict[str, Canvas] = {}
    out = _ShotRender(np.zeros((shot.n_frames, size, size)), [], [], [], np.zeros((shot.n_frames, len(names))), [])
    concept_index = {c: i for i, c in enumerate(CONCEPTS)}
    for i in range(shot.n_frames):
        frac = i / max(shot.n_frames - 1, 1)
        level = shot.light_start + (shot.light_end - shot.light_start) * frac
        lighting = lighting_of(level)
        t = i / FPS
        offset = shot.pan * t
        key = f"{lighting}@{offset:.6f}"
        if key not in backgrounds:
            bg = Canvas(size, x_offset=offset)
            draw_background(bg, shot.place, lighting, np.random.default_rng(shot.layout_seed))
            backgrounds = {key: bg}
        bg = backgrounds[key]
        cv = Canvas(size, x_offset=offset)
        cv.img, cv.part, cv.obj, cv.phrases = bg.img.copy(), bg.part.copy(), bg.obj.copy(), list(bg.phrases)
        for j, o in enumerate(shot.objects):
            draw_object(cv, o, o.x + o.vx * t, j, 1 if o.vx >= 0 else -1)
        emissive = np.isin(cv.part, [cv.phrases.index(p) for p in EMISSIVE if p in cv.phrases])
        img = np.where(emissive, cv.img, cv.img * level) + texture * level + grain.normal(0.0, 0.012, (size, size))
        out.frames[i] = np.clip(img, 0.0, 1.0)
        visible: list[tuple[SceneObject, float]] = []
        f = out.features[i]
        f[col[f"place_{shot.place}"]] = 1.0
        f[col["light_level"]] = level
        f[col["luminance"]] = out.frames[i].mean()
        f[col["contrast"]] = out.frames[i].std()
        tokens = {f"place:{shot.place}", f"light:{lighting}"}
        for j, o in enumerate(shot.objects):
            mask = cv.obj == j
            area = mask.mean()
            if area < VISIBLE_AREA:
                continue
            cx, cy = float(cv.u[mask].mean()) - offset, float(cv.v[mask].mean())
            visible.append((o, cx))
            tokens.add(_object_token(o))
            c = col[f"obj_{o.kind}"]
            if area > f[c]:
                f[c : c + 3] = (area, cx, cy)
        concept_of_part = np.array([concept_index[PHRASES[p].concept] for p in cv.phrases])
        concept_map = concept_of_part[cv.part]
        ph, pw = size // gh, size // gw
        cells = concept_map.reshape(gh, ph, gw, pw).transpose(0, 2, 1, 3).reshape(gh * gw, ph * pw)
        per_patch = np.stack([(cells == k).mean(axis=1) for k in range(len(CONCEPTS))])  # (n_concepts, gh*gw)
        first = col[f"pc_{CONCEPTS[0]}_0_0"]
        f[first : first + per_patch.size] = per_patch.ravel()
        f[col[f"area_{CONCEPTS[0]}"] : col[f"area_{CONCEPTS[0]}"] + len(CONCEPTS)] = per_patch.mean(axis=1)
        out.captions.append(describe(shot.place, lighting, visible, int(wordings[i])))
        dominant, mixtures = _patch_contents(cv, gh, gw)
        out.patches.append(dominant)
        out.mixtures.append(mixtures)
        out.tokens.append(frozenset(tokens))
    return out


def _patch_contents(cv: Canvas, gh: int, gw: int) -> tuple[list[str], list[dict[str, float]]]:
    """Dominant phrase and phrase mixture of every patch (row-major)."""
    ph, pw = cv.size // gh, cv.size // gw
    dominant: list[str] = []
    mixtures: list[dict[str, float]] = []
    n_phrases = len(cv.phrases)
    for r in range(gh):
        for c in range(gw):
            part = cv.part[r * ph : (r + 1) * ph, c * pw : (c + 1) * pw].ravel()
            obj = cv.obj[r * ph : (r + 1) * ph, c * pw : (c + 1) * pw].ravel()
            pool = part[obj >= 0] if (obj >= 0).mean() >= 0.2 else part
            dominant.append(cv.phrases[int(np.bincount(pool, minlength=n_phrases).argmax())])
            weight = np.bincount(part, weights=np.where(obj >= 0, OBJECT_SALIENCE, 1.0), minlength=n_phrases)
            top = [k for k in np.argsort(-weight, kind="stable")[:MIXTURE_TOP] if weight[k] > 0]
            total = float(weight[top].sum())
            mixtures.append({cv.phrases[k]: round(float(weight[k]) / total, 4) for k in top})
    return dominant, mixtures


def _object_token(o: SceneObject) -> str:
    """Vocabulary token of a shown object: "object:<kind>" or "object:<kind>:<attribute>"."""
    return f"object:{o.kind}" + (f":{o.attribute}" if o.attribute else "")


def _spec_tokens(shot: Shot) -> list[frozenset[str]]:
    """Tokens of each frame of a shot as specified (every object counted as visible)."""
    objects = {_object_token(o) for o in shot.objects}
    out = []
    for i in range(shot.n_frames):
        level = shot.light_start + (shot.light_end - shot.light_start) * i / max(shot.n_frames - 1, 1)
        out.append(frozenset({f"place:{shot.place}", f"light:{lighting_of(level)}", *objects}))
    return out


STYLE_OF = {"natural_movie_one": "noir", "natural_movie_three": "people", "natural_scenes": "scenes"}
MAX_ATTEMPTS = 200


def held_out_coverage(name: str, tokens: list[frozenset[str]]) -> dict[str, frozenset[str]]:
    """Vocabulary shown in a task's held-out frames but in none of its training frames, per task.

    Args:
        name: Stimulus name.
        tokens: Per frame, the tokens it shows (`StimulusFrames.tokens`).

    Returns:
        task name -> missing tokens, for every task holding out frames of this stimulus (empty sets
        when covered).
    """
    from neurrator_bench.tasks import TASKS

    out: dict[str, frozenset[str]] = {}
    n = len(tokens)
    for task_name in TASKS.names():
        held = TASKS.get(task_name).held_out(name, n)
        if held is None:
            continue
        in_h = np.zeros(n, dtype=bool)
        in_h[held[held < n]] = True
        seen = frozenset().union(*(tokens[i] for i in np.flatnonzero(~in_h)))
        shown = frozenset().union(*(tokens[i] for i in np.flatnonzero(in_h)))
        out[task_name] = shown - seen
    return out


def render_stimulus(name: str, n_frames: int, size: int, grid: tuple[int, int], seed: int) -> StimulusFrames:
    """Render one stimulus of the bundle.

    The content is re-drawn (attempt ``k`` uses seed ``[seed, k]``) until :func:`held_out_coverage` finds
    nothing missing for any task, at most `MAX_ATTEMPTS` times.

    Args:
        name: "natural_movie_one" (noir shots), "natural_movie_three" (people shots) or
            "natural_scenes" (`n_frames` unrelated stills).
        n_frames: Number of frames (movie frames or images).
        size: Image side in pixels.
        grid: Patch grid (gh, gw).
        seed: Seed of this stimulus's content.

    Returns:
        The rendered frames with captions, patch phrases and mixtures, tokens and features (motion = mean
        absolute frame-to-frame change in [0, 1], 0 for the first frame and for still images).

    Raises:
        ValueError: If `name` is unknown, `size` is not divisible by the patch grid, or no attempt covers
            the held-out vocabulary.
    """
    if size % grid[0] or size % grid[1]:
        raise ValueError(f"image_size: expected a multiple of patch_grid {grid}, found {size}")
    style = STYLE_OF.get(name)
    if style is None:
        raise ValueError(f"stimulus name: expected a natural movie or natural_scenes, found {name!r}")
    missing: dict[str, frozenset[str]] = {}
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, attempt])
        sampler = ShotSampler(rng, style, 0.0 if style == "scenes" else 0.55, 0.0 if style == "scenes" else 0.5)
        shots: list[Shot] = []
        done = 0
        while done < n_frames:
            length = 1 if style == "scenes" else min(int(rng.integers(18, 46)), n_frames - done)
            shots.append(sampler.sample(length))
            done += length
        # cheap check on the shot specs first (objects assumed visible), then on the rendered frames
        missing = {k: v for k, v in held_out_coverage(name, [t for sh in shots for t in _spec_tokens(sh)]).items() if v}
        if missing:
            continue
        chunks = [render_shot(sh, size, grid) for sh in shots]
        tokens = [t for c in chunks for t in c.tokens]
        missing = {k: v for k, v in held_out_coverage(name, tokens).items() if v}
        if not missing:
            break
    else:
        raise ValueError(
            f"{name}: no draw of {MAX_ATTEMPTS} covers every held-out token in training frames; still missing {missing}"
        )
    frames = np.concatenate([c.frames for c in chunks])
    feats = np.concatenate([c.features for c in chunks])
    if style != "scenes":
        feats[1:, feature_names(grid).index("motion")] = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))
    return StimulusFrames(
        name=name,
        frames=np.round(frames * 255).astype(np.uint8),
        descriptions=[d for c in chunks for d in c.captions],
        patch_descriptions=[p for c in chunks for p in c.patches],
        patch_mixtures=[m for c in chunks for m in c.mixtures],
        features=feats,
        tokens=tokens,
    )
