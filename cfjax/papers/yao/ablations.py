"""Yao et al.'s ablations (sec. 6.3, `run_ablations`): Table 3 runs with other target
definitions (eqs. 4, 11, 12), DeepSets, or 40 % deletions in the simulation
(`config.variants`), summarised beside the K = 1 values of sec. 6.3.
"""

from __future__ import annotations

import copy
import os
import time

import ml_collections

from cfjax.evaluate import markdown_table
from cfjax.papers import published
from cfjax.papers.yao.preparation import KS, LABELS, check_config
from cfjax.papers.yao.table3 import fit_text, run_table3, write_summary
from cfjax.pipeline import Run

CONTROLS = ("knn", "random", "none")  # rows the ablation summary keeps without a paper value
ABLATION_ORDER = ("targets", "fraction")  # sec. 6.3's order; other variants follow by name


def variant_config(config, overrides) -> ml_collections.ConfigDict:
  """The Table 3 config of one ablation: `config` without `variants`, with `overrides`."""
  settings = copy.deepcopy(config.to_dict())
  settings.pop("variants", None)
  settings.update(overrides.to_dict() if hasattr(overrides, "to_dict") else dict(overrides))
  return ml_collections.ConfigDict(settings)


def ablation_rows(tables: dict[str, dict]) -> list[list]:
  """One row per (variant, model, method) with a sec. 6.3 value, plus the controls."""
  rows = []
  for variant, combined in tables.items():
    for name, table in combined["models"].items():
      label = variant if name == "mf" else f"{variant} ({name})"
      for method, summary in table["methods"].items():
        paper = published.YAO_ABLATION_K1.get((variant, method)) if name == "mf" else None
        if paper is None and method not in CONTROLS:
          continue
        rows.append([label, LABELS.get(method, method),
                     *[f"{100 * summary['validity'][k]:.1f}%" for k in KS],
                     "-" if paper is None else f"{paper:g}%",
                     fit_text(table["heldout"].get(method, {}))])
  return rows


def run_ablations(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Yao et al.'s ablations (sec. 6.3): one Table 3 run per `config.variants` entry.

  Each variant runs into `workdir/<variant>` (its models below it); the summary (ours at
  K = 1, 3, 5 beside the paper's K = 1: Table 3's 82 % minus the drop sec. 6.3 reports) goes
  to the top of `workdir`.

  Returns:
    {"rows": the summary's rows, "seconds": {variant: wall time}, "variants": {variant:
    its combined Table 3 dict}}.
  """
  if not config.variants:
    raise ValueError("the config lists no variants; see cfjax/experiments/configs/ablations.py")
  order = sorted(config.variants, key=lambda name: (
      ABLATION_ORDER.index(name) if name in ABLATION_ORDER else len(ABLATION_ORDER), name))
  variants = {name: variant_config(config, config.variants[name]) for name in order}
  for variant in variants.values():
    check_config(variant)
  with Run.held(workdir) as run:
    tables, seconds, texts = {}, {}, []
    for name, variant in variants.items():
      start = time.perf_counter()
      tables[name] = run_table3(variant, run.path / name, progress=progress)
      seconds[name] = time.perf_counter() - start
      texts.append(f"## {name}\n\n" + (run.path / name / "table.md").read_text(encoding="utf-8"))
    header = ["variant", "surrogate", "K=1", "K=3", "K=5", "paper K=1 (sec. 6.3)",
              "held-out fit"]
    rows = ablation_rows(tables)
    summary = (markdown_table(header, rows) + "\nwall time: " +
               ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + "\n")
    result = {"rows": [dict(zip(header, row)) for row in rows], "seconds": seconds,
              "variants": tables}
    write_summary(run.path, result, summary + "\n" + "\n".join(texts))
    return result
