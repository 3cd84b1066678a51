"""The retrain-verified benchmark of counterfactual explainers for recommenders (issue 11).

One protocol for every registered explainer, written into every result:

* targets: each test user's top-1 unseen item under the trained original;
* budgets: methods with a size option `e` explain with e in `config.budgets`; adaptive ones
  (ACCENT, FIA, pure FIA, LCER, KaffesCE, ...) with their own size, reported;
* verification, each a column: `scratch_paired` (retrain from the original's init and batch
  order; the deletion is the only difference), `warm_paired` (continue the trained original
  and its Adam state under its seed), `scratch_cross` (retrain under OTHER seeds: a robustness
  check); an amortised model (Mult-VAE) has one, `rescore` (its input edit is exact);
* controls beside every method: a placebo of the same size per explanation, the noise floor
  (the "none" explainer: nothing deleted, same verification), validity net of the noise floor
  (`cfjax.evaluate.leaderboard`);
* statistics: Wilson 95% intervals, McNemar against the placebo and against the best method;
* attribution quality (methods that score items): the LDS of `cfjax.evaluate.lds`.

Each (dataset, model) is a cell with its own results directory (resumable: explanations, each
protocol's verification and the LDS are saved as they finish); `run` writes the combined
rows.csv, leaderboard.md, table.json and a figure per cell.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import pathlib
from typing import Callable

import ml_collections
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cfjax import data as cfdata
from cfjax import util
from cfjax.data.interactions import Interactions
from cfjax.evaluate import comparison, markdown_table, rescore, verify
from cfjax.evaluate import leaderboard as lb
from cfjax.evaluate.metrics import constant_rmse, rmse
from cfjax.evaluate import lds
from cfjax.explain import (ExplainContext, Targets, explainers_for, get_explainer,
                           has_attributions, run_explainer, top1_targets)
from cfjax.explain import surrogate as sg
from cfjax.models import Recommender, make_model
from cfjax.papers import lcer as lcer_pipeline
from cfjax.evaluate.results import provenance
from cfjax.pipeline import Run, data_info, engine_chunk_size, original_context
from cfjax.records import Explanation, VerifiedRecord, load_records, save_records
from cfjax.train import Convergence, RetrainProtocol

logger = logging.getLogger(__name__)
CONTROLS = ("none", "random")  # rows of their own, not methods to rank
AMORTISED = ("multvae",)


# ------------------------------------------------------------------------------- settings
def check_config(config) -> None:
  """One-line errors for impossible settings, before any data is loaded."""
  if not config.datasets or not config.models:
    raise ValueError("pass at least one dataset and one model (--config.datasets, "
                     "--config.models)")
  for name in config.models:
    if name not in AMORTISED and name not in config.model_settings:
      raise ValueError(f"model {name!r} has no settings in config.model_settings; add them "
                       f"or pick from {', '.join(sorted(config.model_settings))}")
  util.check_int(config.users, "users", minimum=2)
  for budget in list(config.budgets) + [b for bs in config.method_budgets.values() for b in bs]:
    util.check_int(budget, "budgets entry", minimum=1)
  for k in config.ks:
    util.check_int(k, "ks entry", minimum=1)
  if not any(p.get("enabled", True) for p in config.protocols.values()):
    raise ValueError("pass at least one enabled verification protocol (config.protocols)")
  for name, protocol in config.protocols.items():
    if not protocol.get("enabled", True):
      continue
    if protocol.kind not in ("scratch", "warm"):
      raise ValueError(f"protocol {name}: kind={protocol.kind!r} must be 'scratch' or 'warm'")
    if not protocol.seed_offsets:
      raise ValueError(f"protocol {name}: pass at least one seed offset")
    if protocol.get("tol") is not None:
      if not protocol.steps:
        raise ValueError(f"protocol {name}: a converged protocol (tol=) needs steps= as its "
                         "step budget (max_steps)")
      until_of(protocol)  # Convergence's own checks of tol and steps
      if list(protocol.seed_offsets) != [0]:
        raise ValueError(f"protocol {name}: converged retraining is full batch and has no "
                         "randomness; pass seed_offsets=(0,)")
  for name in config.models:
    if name not in AMORTISED and not protocols_for(config, name):
      raise ValueError(f"no verification protocol applies to model {name!r} (their models= "
                       "lists leave it out); add it to one")
  for dataset in config.datasets:  # the amortised cells' settings, before an hour of others
    canonical = cfdata.canonical_name(dataset)
    if canonical in lcer_pipeline.DATASETS and any(m in AMORTISED for m in config.models):
      lcer_pipeline.resolve(amortised_settings(config, canonical))
  if config.lds.users:
    util.check_int(config.lds.subsets, "lds.subsets", minimum=3)
    util.check_number(config.lds.fraction, "lds.fraction", minimum=0.01, maximum=0.99)


def methods_for(config, model: Recommender) -> list[str]:
  """The explainers benchmarked on `model`: config.methods, or every registered one whose
  hooks the model provides, without the controls and config.exclude."""
  names = list(config.methods) or [n for n in explainers_for(model) if n not in CONTROLS]
  unknown = [n for n in names if n not in explainers_for(model) and n not in CONTROLS]
  if config.methods and unknown:
    raise ValueError(f"{model.name} cannot run {unknown} (missing hooks or unknown); pick "
                     f"from {', '.join(explainers_for(model))}")
  return [n for n in names if n not in config.exclude and n not in CONTROLS]


def options_for(config, name: str, budget: int | None) -> dict:
  """The explainer's options: config.method_options[name] (surrogates share "surrogate"),
  and e = budget for fixed-size methods."""
  shared = config.method_options.get("surrogate", {}) if name in sg.SPECS else {}
  options = {**dict(shared), **dict(config.method_options.get(name, {}))}
  return {**options, "e": budget} if budget is not None else options


def budgets_for(config, name: str) -> list[int | None]:
  """The sizes `name` explains with: config.method_budgets[name] ("surrogate": every
  surrogate), else config.budgets, for methods with a size option `e`; [None] (their own
  size) for adaptive ones."""
  if "e" not in _fields(name):
    return [None]
  key = "surrogate" if name in sg.SPECS else name
  return list(config.method_budgets.get(key, config.budgets))


# ----------------------------------------------------------------------------------- cells
@dataclasses.dataclass(frozen=True, eq=False)
class Cell:
  """One (dataset, model) of the benchmark, trained and ready to explain.

  Attributes:
    dataset, model_name: the cell's names.
    ctx: the explain context (the trained original, its spec, a simulation if surrogates run).
    targets: each test user's top-1 unseen item.
    verifiers: protocol name -> records -> verified records.
    facts: what config.json records about the cell (data, model, protocols, fit).
  """

  dataset: str
  model_name: str
  ctx: ExplainContext
  targets: Targets
  verifiers: dict[str, Callable[[list[Explanation]], list[VerifiedRecord]]]
  facts: dict


def model_settings(config, name: str) -> ml_collections.ConfigDict:
  return config.model_settings[name]


def cell_record(config, dataset: str, name: str, data: Interactions) -> dict:
  """The cell's config.json (cheap: before any training) and what its results depend on."""
  settings = {k: v for k, v in config.to_dict().items()
              if k not in ("datasets", "models", "model_settings", "output_dir", "data_dir",
                           "cache_dir")}
  model = (config.model_settings[name].to_dict() if name in config.model_settings else {})
  return {"config": settings, "dataset": dataset, "model": name, "model_settings": model,
          "data": data_info(data), **provenance()}


def prepare_retrained(config, dataset: str, name: str, data: Interactions,
                      cell_dir: pathlib.Path) -> Cell:
  """Trains the original of a retrainable model and sets up its protocols and context."""
  settings = model_settings(config, name)
  train, test = cfdata.random_split(data, train_fraction=config.train_fraction,
                                    seed=config.seed)
  model = make_model(name, train, **settings.hparams.to_dict())
  batch_size = settings.batch_size or None
  spec = RetrainProtocol(steps=int(settings.steps), batch_size=batch_size,
                         seeds=(int(config.seed),))
  chunk_size = engine_chunk_size(config.chunk_size, batch_size)
  ctx, training = original_context(model, train, spec, cache_dir=config.cache_dir,
                                   exact_chunk=chunk_size)
  min_history = max(list(config.budgets) + [2]) + 1
  users = cfdata.sample_users(train, int(config.users), min_history=min_history,
                              seed=(int(config.seed), 0xBE7C))
  targets = top1_targets(ctx, users)
  protocols = protocols_for(config, name)
  verifiers = {}
  for protocol_name, protocol in protocols.items():
    steps = int(protocol.steps or spec.steps)
    verifiers[protocol_name] = _retrain_verifier(
        ctx, protocol.kind, steps, [spec.seed + int(o) for o in protocol.seed_offsets],
        chunk_size, list(config.ks), until=until_of(protocol))
  facts = {"model_hparams": model.hparams, "spec": dataclasses.asdict(spec),
           "chunk_size": chunk_size, "test_rmse": rmse(model, ctx.params, test),
           "constant_rmse": constant_rmse(train, test), "original": training,
           "protocols": {n: {"kind": p.kind, "steps": int(p.steps or spec.steps),
                             "seeds": [spec.seed + int(o) for o in p.seed_offsets],
                             "paired": list(p.seed_offsets) == [0],
                             **({"until": dataclasses.asdict(until), "batch_size": None}
                                if (until := until_of(p)) else {})}
                         for n, p in protocols.items()}}
  if any(m in sg.SPECS or m == "verified" for m in methods_for(config, model)):
    sim = config.simulation
    ctx = dataclasses.replace(ctx, simulation=sg.simulate_for(
        ctx, users=int(sim.users), subsets=int(sim.subsets), size=int(sim.size),
        heldout_fraction=float(sim.heldout_fraction), seed=int(config.seed),
        top_n=int(sim.top_n), store_dir=str(cell_dir / "simulation")))
  return Cell(dataset, name, ctx, targets, verifiers, facts)


def protocols_for(config, name: str) -> dict:
  """The verification protocols of model `name`: config.protocols without the disabled ones
  (`enabled=False`: converged retraining is priced for an accelerator) and those whose
  `models` list (if any) leaves it out."""
  return {n: p for n, p in config.protocols.items()
          if p.get("enabled", True) and (not p.get("models") or name in p.models)}


def until_of(protocol) -> Convergence | None:
  """A protocol with `tol` retrains to convergence: L-BFGS on the full batch until the
  gradient norm falls below tol, at most `steps` steps (`cfjax.train.Convergence`)."""
  if protocol.get("tol") is None:
    return None
  return Convergence(tol=float(protocol.tol), max_steps=int(protocol.steps))


def _verification_protocol(spec: RetrainProtocol, kind, steps, seeds, chunk_size,
                           until) -> RetrainProtocol:
  """The original's protocol `spec` as a cell's verification runs it: `kind` (scratch, or warm
  for `steps` more), `seeds`, `chunk_size` models per engine call, and `until` (full batch)."""
  return dataclasses.replace(spec, kind=kind, steps=steps, seeds=tuple(seeds),
                             chunk_size=chunk_size, until=until,
                             batch_size=spec.batch_size if until is None else None)


def _retrain_verifier(ctx, kind, steps, seeds, chunk_size, ks, until=None):
  def run(records):
    return verify(records, model=ctx.model, train=ctx.train, original=ctx.original,
                  protocol=_verification_protocol(ctx.spec, kind, steps, seeds, chunk_size, until),
                  ks=ks, progress=True)
  return run


def amortised_settings(config, dataset: str) -> ml_collections.ConfigDict:
  """The LCER pipeline's settings that train and fold in the benchmark's Mult-VAE (its
  explainers are the benchmark's own; `methods` only has to pass the pipeline's check)."""
  return ml_collections.ConfigDict({
      "dataset": dataset, "seed": int(config.seed), "epochs": int(config.multvae.epochs),
      "num_users": int(config.users), "heldout_users": None, "cache_dir": config.cache_dir,
      "lam": None, "alpha": None, "steps": 1, "kaffes_expansions": 1,
      "methods": tuple(lcer_pipeline.METHODS), "targets_per_batch": None, "preset": "benchmark",
      "k": 1})


def prepare_amortised(config, dataset: str, name: str, data: Interactions) -> Cell:
  """Mult-VAE (amortised) on the LCER split: its context over the test users' fold-in rows;
  its one protocol re-scores the edited input (`cfjax.evaluate.rescore`)."""
  resolved = lcer_pipeline.resolve(amortised_settings(config, dataset))
  prep = lcer_pipeline.prepare(resolved, data)
  ctx = prep.ctx
  targets = top1_targets(ctx, prep.users)
  verifiers = {"rescore": lambda records: rescore(records, model=ctx.model, train=ctx.train,
                                                  params=ctx.params, ks=list(config.ks))}
  facts = {"model_hparams": prep.vae.hparams, "multvae": prep.info,
           "best_epoch": prep.trained.best_epoch, "val_ndcg100": prep.trained.best_ndcg,
           "protocols": {"rescore": {"kind": "rescore", "paired": True, "seeds": []}}}
  return Cell(dataset, name, ctx, targets, verifiers, facts)


# ------------------------------------------------------------------------------- phases
def explain_all(config, cell: Cell) -> tuple[list[Explanation], dict]:
  """Every method's explanation of every target at every budget, and seconds per target."""
  records, seconds = [], {}
  names = methods_for(config, cell.ctx.model)
  with tqdm(total=len(names), desc=f"explaining {cell.dataset}/{cell.model_name}",
            unit="method", leave=False) as bar:
    for name in names:
      for budget in budgets_for(config, name):
        explainer = get_explainer(name, **options_for(config, name, budget))
        with util.timed() as watch:
          found = run_explainer(explainer, cell.ctx, cell.targets)
        label = "own" if budget is None else budget
        seconds[(name, "own" if budget is None else f"e={budget}")] = (
            watch.seconds / len(cell.targets))
        records += comparison.labelled(found, name, label)
      bar.update(1)
  return records, seconds


def lds_rows(config, cell: Cell, work: pathlib.Path) -> list[dict]:
  """The LDS of every benchmarked method with attributions (and of random scores, the
  control), on the first `config.lds.users` targets whose history allows `lds.subsets`
  distinct deletions (`cfjax.evaluate.lds`), against the margin and against the target's own
  score, from ONE retraining under the ranking protocol; saved in `work` (reused)."""
  if not config.lds.users:
    return []
  saved = util.load_checked(work / "lds.json")
  if saved is not None:
    return json.loads(saved)
  count, fraction = int(config.lds.subsets), float(config.lds.fraction)
  eligible = [b for b, user in enumerate(cell.targets.users)
              if math.comb(int(cell.ctx.train.user_counts[user]),
                           lds.subset_size(int(cell.ctx.train.user_counts[user]), fraction))
              >= count][:int(config.lds.users)]
  if not eligible:
    return []
  chosen = cell.targets.select(np.asarray(eligible))
  subsets = lds.draw_subsets(cell.ctx.train, chosen, count=count, fraction=fraction,
                             seed=int(config.seed))
  how = cell.facts["protocols"][main_protocol(config, cell)]
  actual = lds.actual_effects(
      cell.ctx, chosen, subsets, protocol="scratch" if how["kind"] == "rescore" else how["kind"],
      steps=how.get("steps"), seeds=how["seeds"] or [int(config.seed)],
      batch_size=cell.ctx.spec.batch_size if cell.ctx.spec else None,
      chunk_size=cell.facts.get("chunk_size", 64), measure=lds.MEASURES)
  rows = []
  for name in methods_for(config, cell.ctx.model) + ["random"]:
    explainer = get_explainer(name, **options_for(
        config, name, int(config.budgets[0]) if "e" in _fields(name) else None))
    if not has_attributions(explainer):
      continue
    # on all targets: reuses what `explain` computed on this context (cached per batch)
    attributions = explainer.attributions(cell.ctx, cell.targets)
    predicted = lds.predicted_effects([attributions[b] for b in eligible], subsets)
    row = {"method": name, "lds_targets": len(eligible)}
    for measure in lds.MEASURES:
      summary = lds.lds_summary(lds.lds_scores(predicted, actual[measure]))
      suffix = "" if measure == "margin" else f"_{measure}"
      row.update({f"lds{suffix}": summary["mean"], f"lds{suffix}_ci95": summary["ci95"]})
    rows.append(row)
  util.save_checked(work / "lds.json", util.to_json(rows).encode())
  return rows


def convergence_summary(verified: list[VerifiedRecord], how: dict) -> dict | None:
  """For a converged protocol: how many retrained models (explanations and controls) reached
  the tolerance, and the median and largest step counts; None for a fixed-step protocol."""
  if "until" not in how:
    return None
  norms = [pair for v in verified if v.convergence
           for pair in ((v.convergence["grad_norm"], v.convergence["steps"]),
                        (v.convergence["control_grad_norm"], v.convergence["control_steps"]))]
  if not norms:
    return None
  grad_norm, steps = (np.asarray(x, float) for x in zip(*norms))
  return {"models": len(norms), "reached": int((grad_norm < how["until"]["tol"]).sum()),
          "median_steps": float(np.median(steps)), "max_steps_taken": int(steps.max()),
          "max_grad_norm": float(grad_norm.max())}


def _fields(name: str) -> set[str]:
  return {f.name for f in dataclasses.fields(type(get_explainer(name)))}


def main_protocol(config, cell: Cell) -> str:
  """The protocol the leaderboard ranks by: config.rank_by, or the cell's only one."""
  names = list(cell.verifiers)
  return config.rank_by if config.rank_by in names else names[0]


def explained_records(config, cell: Cell, work: pathlib.Path) -> tuple[list[Explanation], dict]:
  """Every method's records and seconds per target (`explain_all`), saved in `work` and
  reused from there."""
  records = load_records(work / "explanations.jsonl")
  seconds = util.load_checked(work / "seconds.json")
  if records is not None and seconds is not None:
    return records, {(m, b): s for m, b, s in json.loads(seconds)}
  records, seconds = explain_all(config, cell)
  save_records(work / "explanations.jsonl", records)
  util.save_checked(work / "seconds.json", util.to_json(
      [[m, b, s] for (m, b), s in seconds.items()]).encode())
  return records, seconds


def verified_by_protocol(config, cell: Cell, to_verify: list[Explanation],
                         work: pathlib.Path) -> tuple[dict, list[dict]]:
  """Each protocol's verified records (saved in `work`, reused) and the leaderboard rows."""
  verified, rows = {}, []
  for protocol, verifier in cell.verifiers.items():
    path = work / f"verified_{protocol}.jsonl"
    verified[protocol] = load_records(path, VerifiedRecord)
    if verified[protocol] is None:
      verified[protocol] = verifier(to_verify)
      save_records(path, verified[protocol])
    reached = convergence_summary(verified[protocol], cell.facts["protocols"][protocol])
    if reached:
      cell.facts["protocols"][protocol]["reached"] = reached
    rows += lb.leaderboard_rows(verified[protocol], cell.targets.users, list(config.ks),
                                dataset=cell.dataset, model=cell.model_name, protocol=protocol)
  return verified, rows


def run_cell(config, dataset: str, name: str, data: Interactions,
             cell_dir: pathlib.Path) -> dict:
  """Runs (or finds finished) one (dataset, model) cell into `cell_dir` (the caller holds the
  lock of the directory above it); returns its table."""
  run = Run(cell_dir)
  done = run.finished(cell_record(config, dataset, name, data))
  if done is not None:
    return done
  with run.section("prepare_s"):
    cell = (prepare_amortised(config, dataset, name, data) if name in AMORTISED else
            prepare_retrained(config, dataset, name, data, cell_dir))
  work = run.work_dir()
  records, seconds = explained_records(config, cell, work)
  verified, rows = verified_by_protocol(
      config, cell, comparison.with_controls(records, cell.ctx, cell.targets, int(config.seed)),
      work)
  lds_by_method = {r["method"]: r for r in lds_rows(config, cell, work)}
  for row in rows:
    row["seconds_per_explanation"] = seconds.get((row["method"], row["budget"]))
    row.update({k: v for k, v in lds_by_method.get(row["method"], {}).items()
                if k != "method"})
  table = {"rows": rows, "lds": list(lds_by_method.values()), "facts": cell.facts,
           "targets": len(cell.targets), "rank_by": main_protocol(config, cell)}
  written = run.write(table=table, markdown=cell_markdown(config, table, dataset, name),
                      records=[v for p in verified.values() for v in p], rows=rows,
                      metrics={"facts": cell.facts})
  figure(table, cell_dir / "validity.png", f"{dataset} / {name} ({config.preset}, "
                                              f"n = {len(cell.targets)})")
  return written


# ---------------------------------------------------------------------------- reporting
def _length(how: dict) -> str:
  """How long the protocol retrains: its steps, or its convergence rule and what it reached."""
  if "until" not in how:
    return f"{how['steps']} steps" if how.get("steps") else "no retraining"
  until, reached = how["until"], how.get("reached")
  text = (f"to convergence: full-batch {until['method'].upper()} until ||grad|| < "
          f"{until['tol']:g}, at most {until['max_steps']} steps")
  if reached:
    text += (f"; {reached['reached']} of {reached['models']} models converged, median "
             f"{reached['median_steps']:.0f} steps, largest final ||grad|| "
             f"{reached['max_grad_norm']:.2g}")
  return text


def cell_markdown(config, table: dict, dataset: str, name: str) -> str:
  """The cell's leaderboard: per protocol and K, methods ranked by net validity."""
  facts = table["facts"]
  lines = [f"## {dataset} / {name}: {table['targets']} targets (each user's top-1)\n"]
  if "test_rmse" in facts:
    lines.append(f"test RMSE {facts['test_rmse']:.3f} (constant predictor "
                 f"{facts['constant_rmse']:.3f}); original: {facts['spec']['steps']} steps, "
                 f"batch {facts['spec']['batch_size'] or 'full'}\n")
  ordered = sorted(facts["protocols"].items(), key=lambda item: item[0] != table["rank_by"])
  for protocol, how in ordered:
    for k in config.ks:
      rows = [r for r in table["rows"] if r["protocol"] == protocol and r["k"] == k]
      if not rows:
        continue
      lines.append(f"\n### {protocol} ({how['kind']}, seeds {how['seeds'] or '-'}, "
                   f"{'paired' if how['paired'] else 'NOT paired'}, {_length(how)}), "
                   f"K = {k}\n\n")
      lines.append(lb.markdown(rows))
  if table["lds"]:
    lines.append(f"\n### Attribution quality (LDS over {config.lds.subsets} random deletions "
                 f"of {100 * config.lds.fraction:.0f}% of the history, "
                 f"{table['lds'][0]['lds_targets']} targets)\n\n")
    lines.append(markdown_table(
        ["method", "LDS (margin)", "95% CI", "LDS (target score)", "95% CI"],
        [[r["method"], lb.number(r["lds"]), lb.interval(r["lds_ci95"], r["lds_targets"]),
          lb.number(r["lds_score"]), lb.interval(r["lds_score_ci95"], r["lds_targets"])]
         for r in sorted(table["lds"], key=lambda r: -(r["lds"] if r["lds"] is not None
                                                       and np.isfinite(r["lds"]) else -9))]))
  lines.append(lb.LEGEND)
  return "".join(lines)



def figure(table: dict, path: pathlib.Path, title: str) -> str | None:
  """Net validity at the first K of the ranking protocol, with 95% intervals, the placebo as
  markers and the noise floor as a band; None (and a log line) without matplotlib."""
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    logger.warning("matplotlib is not installed: no figure (pip install -e '.[plot]')")
    return None
  rows = [r for r in table["rows"] if r["protocol"] == table["rank_by"]]
  if not rows:
    return None
  k = min(r["k"] for r in rows)
  rows = sorted([r for r in rows if r["k"] == k], key=lambda r: r["net_validity"] or 0.0)
  labels = [f"{r['method']} ({r['budget']})" for r in rows]
  net = np.asarray([100 * (r["net_validity"] or 0.0) for r in rows])
  ci = np.asarray([[100 * c for c in (r["net_ci95"] or [0, 0])] for r in rows])
  fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(rows) + 1.6))
  y = np.arange(len(rows))
  noise = 100 * rows[0]["noise_floor"]
  ax.axvspan(0, noise, color="0.85", label=f"noise floor ({noise:.0f}%)")
  ax.barh(y, net, color="tab:blue", alpha=0.8, label="net validity")
  ax.errorbar(net, y, xerr=[net - ci[:, 0], ci[:, 1] - net], fmt="none", ecolor="k",
              capsize=2, lw=1)
  placebo = [100 * r["placebo_net_validity"] if r.get("placebo_net_validity") is not None
             else np.nan for r in rows]
  ax.plot(placebo, y, "o", color="tab:orange", label="placebo (same size)")
  ax.set_yticks(y, labels, fontsize=8)
  ax.set_xlim(0, 100)
  ax.set_xlabel(f"net validity at K = {k} (%)")
  ax.set_title(f"{title}: {table['rank_by']}", fontsize=9)
  ax.legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return str(path)


def run(config, workdir: str | os.PathLike) -> dict:
  """The benchmark: every cell (dataset x model), then the combined leaderboard.

  Args:
    config: `cfjax/experiments/configs/benchmark.py`'s fields.
    workdir: the results directory (one sub-directory per cell).

  Returns:
    table.json's dict: {"cells": {"<dataset>/<model>": cell table}}.
  """
  check_config(config)
  with Run.held(workdir) as run:
    return run_cells(config, run.path)


def run_cells(config, workdir: pathlib.Path) -> dict:
  """Every cell into its sub-directory of `workdir`, then the combined files (`run`)."""
  cells, texts, rows = {}, [], []
  with util.timed() as total:
    for dataset in config.datasets:
      canonical = cfdata.canonical_name(dataset)
      data = cfdata.load(canonical, data_dir=config.data_dir)
      for name in config.models:
        if name in AMORTISED and canonical not in lcer_pipeline.DATASETS:
          logger.warning("%s runs on %s only; skipping %s", name, lcer_pipeline.DATASETS,
                         canonical)
          continue
        table = run_cell(config, canonical, name, data, workdir / f"{canonical}-{name}")
        cells[f"{canonical}/{name}"] = table
        # each cell's table.md ends with the legend: the combined file prints it once
        texts.append((workdir / f"{canonical}-{name}" / "table.md").read_text()
                     .replace(lb.LEGEND, ""))
        rows += table["rows"]
  combined = {"cells": cells, "preset": config.preset}
  header = (f"# Retrain-verified benchmark ({config.preset}): {', '.join(cells)}\n\n"
            f"Run time {total.seconds:.0f} s.\n\n")
  text = header + "\n".join(texts) + lb.LEGEND
  util.atomic_write_text(workdir / "leaderboard.md", text)
  util.atomic_write_text(workdir / "table.md", text)
  util.atomic_write_text(workdir / "rows.csv",
                         pd.DataFrame([util.jsonable(r) for r in rows]).to_csv(index=False))
  util.write_json(workdir / "config.json", {"config": config.to_dict(), **provenance(),
                                            "timings": {"total_s": total.seconds}})
  util.write_json(workdir / "table.json", combined)
  return json.loads(util.to_json(combined))
