"""The offline generative narrator of the embedded default: it reads predicted patches, never neural data.

The stand-in for frozen LLaVA where no LLaVA weights can be had. Each predicted patch token is decomposed by a
three-phrase orthogonal matching pursuit over the simulated world's fixed phrase vocabulary
(:data:`neurrator_bench.builders.simulator.vocabulary.PHRASES`, embedded with the same MiniLM as the target
space; see :meth:`PhraseNarrator.name_patches`), which names what the patch shows: its largest background phrase,
or an object part when that part's share is large enough. One sentence is composed from the named patches with
a deterministic grammar:

- **place**: each patch votes for the places its phrase is evidence for (split evenly when a phrase fits
  several), the most voted wins (ties: alphabetical);
- **lighting**: majority over the patches whose phrase implies a lighting (sky, lit/sunlit/dark surfaces,
  lit windows); "dim" when none does;
- **objects**: patches naming parts of one object kind form one instance per run of adjacent patch columns;
  each instance is placed by its mean column ("on the left", "in the center", ...); a part showing an
  attribute (a dark suit, a cyclist) names it ("a man in a suit", "a person riding a bicycle"); two or more
  person instances read "two people" / "a group of people".

The sentence is "A <lighting> <place> with <objects>." (or "An empty <lighting> <place>."), the canonical
wording of the simulator's captions, without verbs: a single frame's patches do not show motion. It is a
composition of what the patches show, so it produces sentences no training caption contains. It is never
trained: its only parameters are the phrase vocabulary, the sentence encoder and two constants
(`PURSUIT_ATOMS`, `OBJECT_SHARE`). It knows the simulator's design: the pursuit mirrors how targets are made (top
three phrases per patch, object pixels weighted up) and the grammar is the captions' canonical wording, so its
ceiling on true patches is optimistic compared with what a real LLaVA could do on CLIP patches.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from neurrator_bench.builders.simulator.render import INDOOR_PLACES
from neurrator_bench.builders.simulator.vocabulary import PHRASES, PhraseInfo
from neurrator_bench.builders.simulator.wording import lighting_word, where_word
from neurrator_bench.text_embedding import DEFAULT_SENTENCE_MODEL, SentenceEncoder

OBJECT_SHARE = 0.2
"""Least-squares share of the object part in a patch token above which the narrator names the object."""
PURSUIT_ATOMS = 3
"""Phrases a patch token is decomposed into (the true mixtures keep the top three)."""


@dataclass(frozen=True)
class _Instance:
    kind: str
    attribute: str
    x: float


def _noun(inst: _Instance) -> str:
    if inst.kind == "person":
        return "a man in a suit" if inst.attribute == "in a suit" else "a person"
    if inst.kind == "bicycle" and inst.attribute == "riding":
        return "a person riding a bicycle"
    return f"{'an' if inst.kind[0] in 'aeiou' else 'a'} {inst.kind}"


def compose(phrases: list[str], grid: tuple[int, int], backgrounds: list[str] | None = None) -> str:
    """One sentence from the phrases named for each patch (row-major over ``grid``); see the module doc.

    Args:
        phrases: ``gh * gw`` phrases of the vocabulary (object parts name objects).
        grid: Patch grid ``(gh, gw)``.
        backgrounds: Optional ``gh * gw`` background phrases that place and lighting are read from (default:
            ``phrases``), so a patch that shows an object still tells where the scene is.

    Returns:
        E.g. "A dark street with a car on the left and a person in the center."

    Raises:
        KeyError: A phrase is not in the vocabulary.
        ValueError: The number of phrases is not ``gh * gw``.
    """
    gh, gw = grid
    if len(phrases) != gh * gw:
        raise ValueError(f"phrases: expected {gh * gw} (grid {gh}x{gw}), found {len(phrases)}")
    infos: list[PhraseInfo] = [PHRASES[p] for p in phrases]
    scene = infos if backgrounds is None else [PHRASES[p] for p in backgrounds]
    if len(scene) != len(infos):
        raise ValueError(f"backgrounds: expected {len(infos)} phrases, found {len(scene)}")
    votes: Counter[str] = Counter()
    light: Counter[str] = Counter()
    parts: dict[str, list[tuple[int, str]]] = {}
    for info in scene:
        for place in info.places:
            votes[place] += 1.0 / len(info.places)
        if info.lighting:
            light[info.lighting] += 1
    for k, info in enumerate(infos):
        if info.object_kind:
            parts.setdefault(info.object_kind, []).append((k % gw, info.attribute))
    place = min(votes, key=lambda p: (-votes[p], p)) if votes else "scene"
    lighting = min(light, key=lambda w: (-light[w], w)) if light else "dim"
    instances: list[_Instance] = []
    for kind, cols in parts.items():
        columns = sorted({c for c, _ in cols})
        runs: list[list[int]] = [[columns[0]]]
        for c in columns[1:]:
            if c - runs[-1][-1] > 1:
                runs.append([])
            runs[-1].append(c)
        for run in runs:
            attrs = {a for c, a in cols if c in run and a}
            instances.append(_Instance(kind, min(attrs) if attrs else "", (float(np.mean(run)) + 0.5) / gw))
    people = [i for i in instances if i.kind == "person"]
    listed_parts: list[tuple[float, str]] = []
    if len(people) >= 2:
        suits = all(i.attribute == "in a suit" for i in people)
        noun = ("two men in suits" if suits else "two people") if len(people) == 2 else "a group of people"
        x = float(np.mean([i.x for i in people]))
        listed_parts.append((x, f"{noun} {where_word(x)}"))
        instances = [i for i in instances if i.kind != "person"]
    listed_parts += [(i.x, f"{_noun(i)} {where_word(i.x)}") for i in instances]
    listed_parts.sort()
    head = f"{lighting_word(lighting, place in INDOOR_PLACES)} {place}"
    article = "An" if head[0] in "aeiou" else "A"
    if not listed_parts:
        return f"An empty {head}."
    words = [text for _, text in listed_parts]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"{article} {head} with {listed}."


_POSITIONS = re.compile(r" (?:at the far left|on the left|in the center|on the right|at the far right)\b")


def content_key(sentence: str) -> str:
    """A composed sentence without its positions: what it says is there (place, lighting, objects).

    "A dark street with a car on the left." -> "A dark street with a car." Two narrations with the same key
    name the same combination of place, lighting and objects.
    """
    return _POSITIONS.sub("", sentence)


class PhraseNarrator:
    """Names each predicted patch by its nearest vocabulary phrase and composes a sentence (module doc).

    Args:
        encoder: Sentence encoder of the target space (default: the offline MiniLM of the embedded default).
        grid: Patch grid ``(gh, gw)``; ``None`` takes a square grid from the number of patches.
    """

    def __init__(self, encoder: SentenceEncoder | None = None, grid: tuple[int, int] | None = None) -> None:
        self.encoder = encoder or SentenceEncoder(DEFAULT_SENTENCE_MODEL)
        self.phrases = sorted(PHRASES)
        self._emb = self.encoder.encode(self.phrases).astype(np.float32)
        self._is_object = np.array([bool(PHRASES[p].object_kind) for p in self.phrases])
        self.grid = grid
        self.provenance = {
            "kind": "phrase",
            "model_id": self.encoder.model_id,
            "decoding": (
                f"{PURSUIT_ATOMS}-phrase pursuit per patch over {len(self.phrases)} world phrases (MiniLM target "
                "space), composed by a fixed grammar; never trained on neural data"
            ),
        }

    def name_patches(self, patches: np.ndarray) -> list[list[str]]:
        """What every patch shows: its background phrase, and an object part when one is salient.

        Each patch token is decomposed by orthogonal matching pursuit into `PURSUIT_ATOMS` vocabulary phrases
        with least-squares coefficients (clipped at 0). The largest object part is named when its share of the
        coefficients is at least `OBJECT_SHARE`, about the weight an object part has in a true patch mixture
        once it covers about a twelfth of the patch (its pixels counted three times); otherwise the largest background
        phrase. The pursuit explains a facade-and-windows patch by "a building facade" + "windows", not by
        "a car window".

        Args:
            patches: ``(n, n_patches, dim)`` predicted patch tokens.

        Returns:
            Per row, per patch: the object-part phrase when named, else the background phrase.

        Raises:
            ValueError: Wrong shape or dimension.
        """
        named, _ = self._decompose(patches)
        return self._words(named)

    def background(self, patches: np.ndarray) -> list[list[str]]:
        """The background phrase of every patch with the largest pursuit coefficient (place and lighting)."""
        _, background = self._decompose(patches)
        return self._words(background)

    def _words(self, indices: np.ndarray) -> list[list[str]]:
        return [[self.phrases[k] for k in row] for row in indices]

    def _decompose(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One pursuit per patch -> ``(named, background)`` ``(n, P)`` phrase indices (see `name_patches`).

        A patch whose pursuit picked only object parts takes its nearest background phrase as background.
        """
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim != 3 or x.shape[2] != self._emb.shape[1]:
            raise ValueError(
                f"patches: expected shape (n, n_patches, {self._emb.shape[1]}) in the phrase vocabulary's "
                f"embedding space, found {x.shape}"
            )
        atoms, coef = self._pursuit(x)
        is_obj = self._is_object[atoms]  # (n, P, k)
        obj_coef = np.where(is_obj, coef, 0.0)
        share = obj_coef.max(axis=2) / np.maximum(coef.sum(axis=2), 1e-12)
        ob = np.take_along_axis(atoms, obj_coef.argmax(axis=2)[..., None], 2)[..., 0]
        bg = np.take_along_axis(atoms, np.where(is_obj, -1.0, coef).argmax(axis=2)[..., None], 2)[..., 0]
        only_obj = is_obj.all(axis=2)
        if only_obj.any():
            nearest = np.where(self._is_object[None, None, :], -np.inf, x @ self._emb.T).argmax(axis=2)
            bg = np.where(only_obj, nearest, bg)
        return np.where(share >= OBJECT_SHARE, ob, bg), bg

    def _pursuit(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Orthogonal matching pursuit of every patch token over the vocabulary, `PURSUIT_ATOMS` phrases.

        Returns:
            ``(atoms, coef)``: ``(n, P, k)`` phrase indices in the order picked and their least-squares
            coefficients on the picked phrases (clipped at 0).
        """
        n, p, _ = x.shape
        emb = self._emb
        atoms = np.zeros((n, p, PURSUIT_ATOMS), dtype=np.int64)
        residual = x.copy()
        coef = np.zeros((n, p, 0), dtype=np.float32)
        taken = np.zeros((n, p, len(self.phrases)), dtype=bool)
        for k in range(PURSUIT_ATOMS):
            scores = np.where(taken, -np.inf, residual @ emb.T)
            pick = scores.argmax(axis=2)
            atoms[..., k] = pick
            np.put_along_axis(taken, pick[..., None], True, axis=2)
            e = emb[atoms[..., : k + 1]]  # (n, P, k+1, d)
            gram = np.einsum("npkd,npld->npkl", e, e) + 1e-4 * np.eye(k + 1, dtype=np.float32)
            rhs = np.einsum("npkd,npd->npk", e, x)
            coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
            residual = x - np.einsum("npk,npkd->npd", coef, e)
        return atoms, np.clip(coef, 0.0, None)

    def narrate(self, patches: np.ndarray, grid: tuple[int, int] | None = None) -> list[str]:
        """One sentence per row of ``(n, n_patches, dim)`` predicted patches (``grid`` overrides ``self.grid``)."""
        named, background = self._decompose(patches)
        names, backgrounds = self._words(named), self._words(background)
        n_patches = named.shape[1]
        grid = grid or self.grid
        if grid is None:
            side = int(round(np.sqrt(n_patches)))
            if side * side != n_patches:
                raise ValueError(f"patches: {n_patches} per frame is not a square grid; pass grid=(gh, gw)")
            grid = (side, side)
        return [compose(row, grid, scene) for row, scene in zip(names, backgrounds, strict=True)]
