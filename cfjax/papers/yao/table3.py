"""Yao et al.'s Table 3 (`run_table3`): every surrogate's explanation (eq. 9, e = 3 items), KNN,
the influence function (eq. 10), the controls (`random` placebo, `none` noise floor) and
cfjax's `verified`, all through `cfjax.explain.get_explainer`; each explanation is deleted and
the model retrained (ONE batched `verify` call); a method's score at K is the share of targets
that left the top-K (eq. 2), beside the paper's value. The preparation is `yao.preparation`'s.
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import numpy as np

from cfjax import data as cfdata
from cfjax.evaluate import (markdown_table, noise_floor_warnings, rmse, summarize_by_method,
                            verified_rows, verify)
from cfjax.evaluate import figures
from cfjax.evaluate.metrics import constant_rmse, fit_warnings
from cfjax.evaluate.significance import enough_for_statistics
from cfjax.explain import get_explainer, run_explainer
from cfjax.data.interactions import Interactions
from cfjax.papers import published
from cfjax.papers.yao import preparation
from cfjax.papers.yao.preparation import (CHECK_SEED_OFFSET, KS, LABELS, PAPER_SCALE, PLACEBO_SALT,
                                          Prepared, Setup, check_config, models_of, prepare, setup,
                                          surrogate_explainer)
from cfjax.pipeline import Run
from cfjax.records import Explanation
from cfjax.util import atomic_write_text, timed, write_json


def influence_note(records: Sequence[Explanation]) -> str | None:
  """A note when some MINRES solves of the influence function missed the tolerance (their
  influences, and so their explanations, are approximate), else None."""
  converged = [bool(r.extra.get("cg_converged", True)) for r in records]
  if all(converged):
    return None
  residuals = [float(r.extra.get("cg_residual", 0.0)) for r in records]
  return (f"influence_function: {len(converged) - sum(converged)} of {len(converged)} MINRES "
          f"solves did not reach the tolerance (median relative residual "
          f"{float(np.median(residuals)):.2g}); their influences are approximate")


def explain_table3(p: Prepared) -> tuple[list[Explanation], dict]:
  """Every method's explanation of every target, in Table 3's order.

  Returns:
    (records: [surrogates..., knn, influence_function, (random, none) per target, verified],
    facts: {"explain_seconds_per_user", "influence_note", "verified_cost", "explain_s",
    "verified_s"}).
  """
  s, ctx, targets = p.setup, p.ctx, p.targets
  c, seed, size = s.config, s.spec.seed, int(s.config["deletion_size"])
  records, seconds, facts = [], {}, {"influence_note": None, "verified_cost": None}
  with timed() as explaining:
    for name in c["surrogates"]:
      with timed() as watch:
        records += run_explainer(surrogate_explainer(s, name, p.fit), ctx, targets)
      seconds[name] = watch.seconds / len(targets)
    records += run_explainer(get_explainer("knn", e=size), ctx, targets)
    if c["influence"]:
      influence = run_explainer(get_explainer("influence_function", e=size, on_fail="ignore"),
                                ctx, targets)
      facts["influence_note"] = influence_note(influence)
      records += influence
    placebo = run_explainer(get_explainer("random", e=size, seed=(seed, PLACEBO_SALT)), ctx,
                            targets)
    nothing = run_explainer(get_explainer("none"), ctx, targets)
    records += [r for pair in zip(placebo, nothing) for r in pair]
  facts["explain_s"] = explaining.seconds
  if c["verify_budget"]:
    verified = get_explainer("verified", ranker=c["verified_surrogate"],
                             ranker_options={"fit": p.fit}, e=size, budget=int(c["verify_budget"]),
                             per_round=int(c["verify_per_round"]), k=1,
                             seed_offset=CHECK_SEED_OFFSET,
                             max_candidates=int(c["candidates"]), search_seed=seed,
                             chunk_size=s.settings.chunk_size)
    with timed() as checking:
      checked = run_explainer(verified, ctx, targets)
    retrains = [r.extra["retrains"] for r in checked]
    facts["verified_cost"] = {
        "users": len(checked), "found": int(sum(r.extra["found"] for r in checked)),
        "mean_retrains": float(np.mean(retrains)), "total_retrains": int(sum(retrains)),
        "engine_models": int(checked[0].extra["engine_models_total"]),
        "search_verification_seed": seed + CHECK_SEED_OFFSET, "seconds": checking.seconds}
    facts["verified_s"] = checking.seconds
    records += checked
  facts["explain_seconds_per_user"] = seconds
  return records, facts


def fit_text(fit: dict) -> str:
  """A surrogate's held-out fit as a table cell: R^2, or accuracy beside the majority rate."""
  if "r2" in fit:
    return f"R2 {fit['r2']:.3f}"
  if "accuracy" in fit:
    return f"acc {fit['accuracy']:.3f} (majority {fit['majority_rate']:.3f})"
  return "-"


def table3_markdown(table: dict, verify_budget: int) -> str:
  """Table 3's layout: ours beside the paper's percentage at every K, and the held-out fit;
  a method verified on fewer than `significance.MIN_TARGETS` users shows its own value only
  ("n = 3: no paper comparison": a share of 3 users says nothing about the paper's)."""
  header = ["method"] + [f"K={k} ours / paper" for k in KS] + ["held-out fit", "users"]
  paper = {(c["method"], c["k"]): c["paper_percent"] for c in table["cells"]}
  rows = []
  for method, summary in table["methods"].items():
    cells = []
    for k in KS:
      value, users = paper[(method, k)], summary["users"]
      cells.append(f"{100 * summary['validity'][k]:.1f}% / " + (
          f"n = {users}: no paper comparison" if not enough_for_statistics(users) else
          "-" if value is None else f"{value:.1f}%"))
    rows.append([LABELS.get(method, method)] + cells +
                [fit_text(table["heldout"].get(method, {})), summary["users"]])
  text = markdown_table(header, rows) + "".join(f"\n{line}\n" for line in table["warnings"])
  cost = table["verified_cost"]
  if cost:
    text += (f"\nverified: found a candidate that left the top-1 under the verification seed "
             f"for {cost['found']}/{cost['users']} users, {cost['mean_retrains']:.2f} retrains "
             f"per user on average (budget {verify_budget}).\n")
  return text


def table3_of(s: Setup, p: Prepared, facts: dict, verified: list) -> dict:
  """table.json of one recommender: per method its validity at every K beside the paper's,
  the held-out fits, the warnings (noise floor, fit) and the scale."""
  summaries = summarize_by_method(verified, KS)
  cells = [{"method": m, "k": k, "ours_percent": 100 * summary["validity"][k],
            "paper_percent": published.yao_table3(s.settings.name, s.dataset, m, k)}
           for m, summary in summaries.items() for k in KS]
  test_rmse = rmse(s.model, p.ctx.params, s.test)
  baseline_rmse = constant_rmse(s.train, s.test)
  return {"methods": summaries, "ks": list(KS), "cells": cells, "heldout": p.heldout,
          "warnings": noise_floor_warnings(summaries, KS) + fit_warnings(test_rmse,
                                                                         baseline_rmse),
          "constant_rmse": baseline_rmse,
          "verified_cost": facts["verified_cost"], "test_rmse": test_rmse,
          "scale": s.record["scale"], "model": s.settings.name, "dataset": s.dataset}


def table3_model(config, name: str, full: Interactions, model_dir: str | os.PathLike, *,
                 progress: bool = True) -> tuple[dict, str]:
  """Runs (or finds finished) Table 3 for one recommender into `model_dir` (the caller holds
  the lock of the directory above it).

  Returns:
    (table.json's dict, table.md's text).
  """
  run = Run(model_dir)
  s = setup(config, name, full)
  done = run.finished(s.record)
  if done is not None:
    return done, (run.path / "table.md").read_text(encoding="utf-8")
  p = prepare(s, store_dir=run.path / "simulation", cache_dir=config.cache_dir,
              progress=progress)
  records, facts = explain_table3(p)
  with run.section("verify_s"):
    verified = verify(records, model=s.model, train=s.train, original=p.ctx.original,
                      protocol=s.spec.with_seeds(s.record["verify_seeds"]).with_chunk_size(
                          s.settings.chunk_size), ks=KS, progress=progress)
  table = table3_of(s, p, facts, verified)
  markdown = table3_markdown(table, s.config["verify_budget"])
  if facts["influence_note"]:
    markdown += f"\n{facts['influence_note']}\n"
  data = p.ctx.simulation.data
  run.write(table=table, markdown=markdown, records=verified, rows=verified_rows(verified),
            metrics={"test_rmse": table["test_rmse"], "simulated_models": data.num_models,
                     "simulation_retrain_s": data.seconds, "heldout": p.heldout,
                     "verified_cost": facts["verified_cost"],
                     "surrogate_info": p.surrogate_info,
                     "explain_seconds_per_user": facts["explain_seconds_per_user"],
                     "influence_note": facts["influence_note"]},
            timings={**p.timings, "explain_s": facts["explain_s"],
                     **({"verified_s": facts["verified_s"]} if "verified_s" in facts else {})})
  surrogate_figure(p.heldout_points, p.heldout, run.path / "surrogate_fit.png",
                   f"{s.dataset}, {name}, preset {config.preset}: held-out simulated users")
  return table, markdown


def surrogate_figure(points: dict, heldout: dict, path: pathlib.Path, title: str) -> str | None:
  """Yao et al.'s Figure 3: each regression surrogate's predicted vs actual effect of the
  deletions of held-out simulated users, one panel per surrogate, with the diagonal and R^2.
  None without matplotlib or regression surrogates."""
  plt = figures._pyplot()
  if plt is None or not points:
    return None
  fig, axes = plt.subplots(1, len(points), figsize=(3.2 * len(points), 3.3), squeeze=False)
  for ax, (name, xy) in zip(axes[0], points.items()):
    actual, predicted = np.asarray(xy["actual"]), np.asarray(xy["predicted"])
    ax.scatter(actual, predicted, s=4, alpha=0.4)
    low = float(min(actual.min(), predicted.min()))
    high = float(max(actual.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="k", lw=0.8)
    ax.set_title(f"{name}: R^2 = {heldout[name]['r2']:.2f} (n = {len(actual)})", fontsize=8)
    ax.set_xlabel("actual effect (retrained)", fontsize=8)
    ax.set_ylabel("predicted by the surrogate", fontsize=8)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return str(path)


def scale_line(config, dataset: str) -> str:
  """One line: our scale beside the paper's (sec. 6.1)."""
  paper_users = published.YAO_TRAIN_USERS.get(dataset, "-")
  train_users = config.train_users or paper_users
  return (f"scale: {train_users} train users x {config.subsets} subsets, {config.test_users} "
          f"test users, <= {config.candidates} candidates (preset {config.preset}; paper: "
          f"{paper_users} x {PAPER_SCALE['subsets_per_user']}, {PAPER_SCALE['test_users']} "
          f"test users, {PAPER_SCALE['candidates']:,} candidates)\n")


def model_heading(table: dict) -> str:
  """`## dataset / model (steps, batch)`, the heading of one model's section."""
  scale = table["scale"]
  return (f"## {table['dataset']} / {table['model']} ({scale['steps']} steps, batch "
          f"{scale['batch_size']})\n\n")


def write_summary(workdir: str | os.PathLike, table: dict, markdown: str) -> None:
  """The top-level table.md and table.json of a run made of several results directories
  (table.json last: it marks the run finished)."""
  path = pathlib.Path(workdir)
  atomic_write_text(path / "table.md", markdown)
  write_json(path / "table.json", table)


def run_table3(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Yao et al.'s Table 3 for every requested recommender, each into `workdir/<model>`.

  Also writes a combined table.md and table.json at the top of `workdir`.

  Args:
    config: `cfjax/experiments/configs/table3.py`'s fields.
    workdir: the results directory.
    progress: show the engine's progress bars.

  Returns:
    {"dataset", "preset", "models": {model: that model's table.json}}.
  """
  with Run.held(workdir) as run:
    check_config(config)
    names = models_of(config)
    full = preparation.load(config)
    dataset = cfdata.canonical_name(config.dataset)
    tables, texts = {}, []
    for name in names:
      table, text = table3_model(config, name, full, run.path / name, progress=progress)
      tables[name] = table
      texts.append(model_heading(table) + text)
    combined = {"dataset": dataset, "preset": config.preset, "models": tables}
    write_summary(run.path, combined, scale_line(config, dataset) + "\n".join(texts))
    return combined


