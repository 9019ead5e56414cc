"""The Neurrator reference model: encoder, training recipe, subset queries, LLaVA PatchInjector, narrators."""

from __future__ import annotations
