"""Leaderboard: result store, validation, submission, static site, markdown, plots and comparison tables.

Public API (each module holds one job):

- ``store``: ``find_entry_files``, ``load_entries``, ``group_by_task`` / ``group_by_model`` /
  ``group_by_revision``, headline selection (``find_main_metric``: ``sbert_matched``, else ``retrieval_r10``),
  rows keyed on (model, revision, narrator) (``narrator_label``), ``metric_order`` (the metric registry's
  order), ``pair_adjacent_rows`` (paired block bootstrap of each ranked row against the row above).
- ``validate``: ``validate_results(results_dir, expected_fingerprints=None) -> list[Problem]``.
- ``site``: ``build_site(results_dir, out_dir, title=...) -> Path`` (``index.html``; opens from file://);
  ``model_page`` renders the per-model pages, ``page_parts`` the escaped HTML building blocks.
- ``markdown``: ``render_markdown(entries) -> str``.
- ``plots``: ``plot_scaling``, ``plot_similarity``, ``plot_per_frame`` (PNG, Agg).
- ``submit``: ``submit_results(model_dir, repo_id, ...) -> SubmitOutcome`` (Hub PR or offline bundle).
- ``compare``: ``compare_table(results_dir, task=None)``, ``render_compare(...) -> str``;
  ``paired_compare(entry_a, entry_b, metrics=None, n_boot=1000, seed=0) -> list[PairedDifference]``,
  ``render_paired(path_a, path_b, ...) -> str``.

Submodules are imported on use (``from neurrator_bench.leaderboard.site import build_site``), so
importing this package stays cheap (no matplotlib, no huggingface_hub).
"""

from __future__ import annotations
