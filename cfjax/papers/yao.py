"""Yao, Wang and Li, "Learning to Counterfactually Explain Recommendations": Tables 3 and 2 and
the ablations of sec. 6.3, as library pipelines.

One preparation serves all three (`setup`, then `prepare`): load the dataset, split it 70/30,
build the recommender with its per-model settings, train the original exactly as a paired
retrain would (`train_original_exact`), simulate counterfactual outcomes for sampled training
users (Algorithm 2, a resumable store), fit the surrogates on them (eq. 7) and score each on
held-out simulated users, and draw the test users (disjoint from the simulated ones) with
their top-1 unseen item as the target (sec. 6.1).

* Table 3 (`run_table3`): every surrogate's explanation (eq. 9, e = 3 items), KNN, the
  influence function (eq. 10), the controls (`random` placebo, `none` noise floor) and
  cfjax's `verified`, all through `cfjax.explain.get_explainer`; each explanation is deleted
  and the model retrained (ONE batched `verify` call); a method's score at K is the share of
  targets that left the top-K (eq. 2), beside the paper's value.
* Table 2 (`run_table2`): seconds per explanation, one target at a time (the paper's setting)
  and batched, on the same prepared state; it reuses a finished Table 3's simulation store
  when `config.table3_dir` names one.
* Ablations (`run_ablations`): Table 3 runs with other target definitions (eqs. 4, 11, 12),
  DeepSets, or 40 % deletions in the simulation (`config.variants`), summarised beside the
  K = 1 values of sec. 6.3.

Published numbers come from `cfjax.papers.published`; display labels live here.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import logging
import pathlib
import shutil
import time
from typing import Any, Callable, Sequence

import ml_collections
import numpy as np

from cfjax import data as cfdata
from cfjax.data.interactions import Interactions
from cfjax.evaluate import (ResultsDir, markdown_table, noise_floor_warnings, rmse,
                            summarize_by_method, verified_rows, verify)
from cfjax.evaluate import figures
from cfjax.evaluate.metrics import constant_rmse, fit_warnings
from cfjax.explain import (ExplainContext, Targets, get_explainer, run_explainer,
                           top1_targets)
from cfjax.explain import surrogate as sg
from cfjax.explain.search import SurrogateSearch
from cfjax.models import Recommender, make_model
from cfjax.papers import published
from cfjax.papers.common import (data_info, engine_chunk_size, holds_workdir, run_config,
                                trained_original)
from cfjax.records import Explanation
from cfjax.simulate import SimulationConfig, plan_fingerprint, plan_simulation, simulate
from cfjax.simulate.store import SimulationStore
from cfjax.train import RetrainProtocol
from cfjax.util import atomic_write_text, source_hash, timed, write_json

logger = logging.getLogger(__name__)

KS = (1, 3, 5)
MODELS = ("mf", "ncf")
TEST_USER_SALT = 0x7E57  # test users: seed (seed, salt), disjoint from the simulated users
PLACEBO_SALT = 0xC0  # the random placebo's draws: seed (seed, salt)
CHECK_SEED_OFFSET = 2  # `verified` retrains its candidates under seed + 2
# The paper's scale (sec. 6.1): deletions per simulated user, test users, searched candidates.
PAPER_SCALE = published.YAO_SCALE
# Method -> row label: the paper's rows, then the controls and cfjax's own methods.
LABELS = {"random": "random (placebo)", "none": "none (noise floor)",
          "coupled_reg": "coupled (cfjax, reg)", "verified": "verified (cfjax)",
          "lasso_rank": "Linear Surrogate (rank, eq. 11)",
          "lasso_cross": "Linear Surrogate (cross, eq. 12)",
          "deepsets_reg": "DeepSets Surrogate (reg)", **published.YAO_LABELS}
CONTROLS = ("knn", "random", "none")  # rows the ablation summary keeps without a paper value
ABLATION_ORDER = ("targets", "fraction")  # sec. 6.3's order; other variants follow by name


# ------------------------------------------------------------------------------ settings


def models_of(config) -> list[str]:
  """The recommenders a config asks for: `model` ("mf", "ncf", or "all" = both)."""
  if config.model == "all":
    return list(MODELS)
  if config.model not in MODELS:
    raise ValueError(f"--model={config.model} is not in Yao et al.'s Table 3; pass mf, ncf "
                     "or all")
  return [config.model]


def check_config(config) -> None:
  """One-line errors for impossible settings, before any data is loaded."""
  for name in models_of(config):
    if name not in config.models:
      raise ValueError(f"the config has no settings for model {name!r} (config.models."
                       f"{name}); its models are {', '.join(sorted(config.models))}")
  positive = {"subsets": config.subsets, "test_users": config.test_users,
              "deletion_size": config.deletion_size, "candidates": config.candidates,
              "block_size": config.block_size, "top_n": config.top_n}
  for name, value in positive.items():
    if int(value) < 1:
      raise ValueError(f"{name}={value} must be >= 1")
  if config.train_users is not None and int(config.train_users) < 2:
    raise ValueError(f"train_users={config.train_users} must be >= 2 (some are held out to "
                     "score the surrogates)")
  if not 0 < config.heldout_fraction < 1:
    raise ValueError(f"heldout_fraction={config.heldout_fraction} must lie in (0, 1)")
  if config.deletion_fraction is not None and not 0 < config.deletion_fraction < 1:
    raise ValueError(f"deletion_fraction={config.deletion_fraction} must lie in (0, 1), or "
                     "None for deletions of deletion_size items")
  unknown = [name for name in config.surrogates if name not in sg.SPECS]
  if unknown:
    raise ValueError(f"unknown surrogate {unknown[0]!r} in surrogates; choose from "
                     f"{', '.join(sorted(sg.SPECS))}")
  if config.verify_budget and config.verified_surrogate not in config.surrogates:
    raise ValueError(f"verified ranks with verified_surrogate={config.verified_surrogate!r}, "
                     "which is not in surrogates; add it there or set verify_budget=0")
  if config.verify_budget and int(config.verify_per_round) < 1:
    raise ValueError(f"verify_per_round={config.verify_per_round} must be >= 1")


@dataclasses.dataclass(frozen=True)
class ModelSettings:
  """How one recommender is trained and verified in these tables.

  Attributes:
    name: "mf" or "ncf".
    steps: Adam steps of the original, of every simulated retrain and of verification.
    batch_size: rows per step, or None for full batch.
    hparams: extra `make_model` hyperparameters (NCF: weight_decay, learning_rate).
    verify_seed_offset: verification retrains under seed + this (1: another seed, so `none`
      measures retraining noise; 0: paired with the original, the deletion is the only
      difference).
    chunk_size: models per compiled engine call.
  """

  name: str
  steps: int
  batch_size: int | None
  hparams: dict
  verify_seed_offset: int
  chunk_size: int


def model_settings(config, name: str) -> ModelSettings:
  """`config.models.<name>` resolved: batch size 0 or None = full batch; chunk size from
  `config.chunk_size` or the engine's default for that batch size."""
  own = config.models[name]
  batch_size = int(own.batch_size) if own.batch_size else None
  return ModelSettings(name=name, steps=int(own.steps), batch_size=batch_size,
                       hparams=dict(own.hparams), verify_seed_offset=int(own.verify_seed_offset),
                       chunk_size=engine_chunk_size(config.chunk_size, batch_size))


def min_history_of(config) -> int:
  """The fewest training items a simulated or test user needs: more than the deletion size
  with room for the search (max(2e, 5)), and >= 2 items per fractional deletion."""
  least = max(2 * int(config.deletion_size), 5)
  if config.deletion_fraction:
    least = max(least, math.ceil(2 / config.deletion_fraction))
  return least


def eligibility_note(train: Interactions, min_history: int) -> dict:
  """How many users are too short to sample (fewer than `min_history` training items)."""
  counts = np.asarray(train.user_counts)
  short = int((counts < min_history).sum())
  return {"min_history": min_history, "users": int(len(counts)), "excluded_short": short,
          "note": f"{short} of {len(counts)} users have fewer than {min_history} training "
                  f"items (needed: > e = deletion size, and room for the search) and are "
                  f"excluded from the surrogate's training and test users"}


def model_config(config, name: str) -> dict:
  """The settings one model's results depend on: the config with `model` = name and only
  that model's entry under `models`."""
  settings = config.to_dict()
  settings.update(model=name, models={name: settings["models"][name]})
  settings.pop("variants", None)
  return settings


# --------------------------------------------------------------------------- preparation


@dataclasses.dataclass(frozen=True, eq=False)
class Setup:
  """The cheap part of the preparation: data, split, model, sampled users, config.json.

  Attributes:
    config: this model's settings (`model_config`).
    dataset: the canonical dataset name.
    full, train, test: the data and its 70/30 split.
    model: the recommender; settings: its `ModelSettings`; spec: how it is trained.
    min_history: the fewest training items a sampled user has.
    train_users: int64[U] the simulated users (the surrogates' training users).
    test_users: int64[T] the explained users, disjoint from `train_users`.
    record: config.json of the run (settings, data, code, scale, eligibility).
  """

  config: dict
  dataset: str
  full: Interactions
  train: Interactions
  test: Interactions
  model: Recommender
  settings: ModelSettings
  spec: RetrainProtocol
  min_history: int
  train_users: np.ndarray
  test_users: np.ndarray
  record: dict


def setup(config, name: str, full: Interactions) -> Setup:
  """Splits `full`, builds model `name` and samples its simulated and test users.

  Args:
    config: a Table 3 config (`experiments/configs/table3.py`).
    name: the recommender, "mf" or "ncf".
    full: the loaded dataset.

  Returns:
    The `Setup`; nothing is trained yet, so a finished run can be found first.
  """
  dataset = cfdata.canonical_name(config.dataset)
  settings = model_settings(config, name)
  seed = int(config.seed)
  train, test = cfdata.random_split(full, train_fraction=config.train_fraction, seed=seed)
  model = make_model(name, train, **settings.hparams)
  spec = RetrainProtocol(steps=settings.steps, batch_size=settings.batch_size, seeds=(seed,))
  min_history = min_history_of(config)
  train_count = config.train_users or published.YAO_TRAIN_USERS.get(dataset)
  if train_count is None:
    raise ValueError(f"the paper simulates no users of {dataset}; set train_users")
  train_users = cfdata.sample_users(train, int(train_count), min_history=min_history, seed=seed)
  test_users = cfdata.sample_users(train, int(config.test_users), min_history=min_history,
                                   seed=(seed, TEST_USER_SALT), exclude=train_users)
  scale = {"train_users": int(train_count), "subsets_per_user": int(config.subsets),
           "test_users": int(config.test_users), "candidates": int(config.candidates),
           "steps": settings.steps, "batch_size": settings.batch_size or "full",
           "paper": {"train_users": published.YAO_TRAIN_USERS.get(dataset), **PAPER_SCALE}}
  own = model_config(config, name)
  record = run_config(own, full, model=name, model_hparams=model.hparams, ks=list(KS),
                      protocol="scratch", original_seed=seed,
                      verify_seeds=[seed + settings.verify_seed_offset],
                      chunk_size=settings.chunk_size, scale=scale,
                      eligibility=eligibility_note(train, min_history))
  return Setup(own, dataset, full, train, test, model, settings, spec, min_history,
               train_users, test_users, record)


def simulation_config(s: Setup) -> SimulationConfig:
  """Algorithm 2's settings: every retrain paired with the original (its seed and spec)."""
  c = s.config
  fraction = c["deletion_fraction"]
  return SimulationConfig(subsets_per_user=int(c["subsets"]),
                          deletion_size=None if fraction else int(c["deletion_size"]),
                          deletion_fraction=fraction, top_n=int(c["top_n"]), seed=s.spec.seed,
                          retrain_seed=s.spec.seed, steps=s.spec.steps,
                          batch_size=s.spec.batch_size, block_size=int(c["block_size"]),
                          chunk_size=s.settings.chunk_size)


def simulation_facts(s: Setup) -> dict:
  """What a simulation store must have been made with, beyond its config: data, model and the
  library's code (simulated outcomes made by other code are not reused)."""
  return {"data": data_info(s.full), "model": s.settings.name, "hparams": s.model.hparams,
          "code": source_hash()}


def check_store(store_dir: str | os.PathLike, s: Setup, *, own: bool) -> None:
  """Before training: a store of other settings or code in `store_dir` is rebuilt when it is
  this run's own (`own`: inside the results directory it holds), else a one-line error."""
  store = pathlib.Path(store_dir)
  config = simulation_config(s)
  fingerprint = plan_fingerprint(plan_simulation(s.train, s.train_users, config), config,
                                 simulation_facts(s))
  if SimulationStore.matches(store, fingerprint) is not False:
    return
  if not own:
    raise ValueError(f"{store} holds a simulation made with other settings or code (data, "
                     "model, seed, users, subsets, steps, cfjax source); pass the settings it "
                     "was made with, or simulate here (leave table3_dir empty)")
  logger.warning("%s holds a simulation of other settings or code; rebuilding it", store)
  shutil.rmtree(store)


@dataclasses.dataclass(frozen=True, eq=False)
class Prepared:
  """The trained, simulated and fitted state every table explains from.

  Attributes:
    setup: the `Setup`.
    ctx: the `ExplainContext` (original, spec, `ctx.simulation` = the simulated outcomes;
      its cache holds the fitted surrogates).
    targets: the test users and their top-1 unseen items.
    fit: the surrogates' `FitOptions`.
    heldout: surrogate -> fit on the held-out simulated users (R^2 or accuracy).
    surrogate_info: surrogate -> fitting facts (regularisation, rows, seconds).
    timings: seconds of training, simulation and fitting.
    heldout_points: regression surrogate -> {"predicted", "actual"} on the held-out users.
  """

  setup: Setup
  ctx: ExplainContext
  targets: Targets
  fit: sg.FitOptions
  heldout: dict
  surrogate_info: dict
  timings: dict
  heldout_points: dict = dataclasses.field(default_factory=dict)


def surrogate_explainer(s: Setup, name: str, fit: sg.FitOptions,
                        batched: bool = False) -> SurrogateSearch:
  """Surrogate `name`'s explainer (eq. 9) with the config's search and fitting settings."""
  c = s.config
  return get_explainer(name, e=int(c["deletion_size"]), max_candidates=int(c["candidates"]),
                       seed=s.spec.seed, fit=fit, batched=batched)


def prepare(s: Setup, *, store_dir: str | os.PathLike, cache_dir: str | os.PathLike | None,
            own_store: bool = True, progress: bool = True) -> Prepared:
  """Trains the original, simulates (or resumes) Algorithm 2 and fits every surrogate.

  Args:
    s: the `Setup`.
    store_dir: the simulation store (resumed when it holds the same plan).
    own_store: whether the store belongs to this run (rebuilt if made otherwise) or to another
      finished run (an error if made otherwise).
    cache_dir: where trained originals are cached (None: not cached).
    progress: show the engine's progress bars.

  Returns:
    The `Prepared` state; the surrogates are fitted on `ctx` (cached), so explainers built by
    `surrogate_explainer(s, name, prepared.fit)` reuse them.
  """
  check_store(store_dir, s, own=own_store)
  c, seed = s.config, s.spec.seed
  timings = {}
  original, training = trained_original(s.model, s.train, s.spec, cache_dir=cache_dir,
                                        exact_chunk=s.settings.chunk_size)
  timings["train_original_s"] = training["seconds"]
  with timed() as simulating:
    data = simulate(s.model, s.train, original.params, s.train_users, simulation_config(s),
                    str(store_dir), extra_fingerprint=simulation_facts(s), progress=progress)
  timings["simulate_s"] = simulating.seconds
  fit_users, heldout_users = sg.split_users(s.train_users, c["heldout_fraction"], seed)
  ctx = ExplainContext.from_original(s.model, s.train, original, s.spec,
                                     simulation=sg.Simulated(data, fit_users, heldout_users))
  fit = sg.FitOptions(num_folds=min(int(c["fit"]["num_folds"]), len(fit_users)),
                      mlp_steps=int(c["fit"]["mlp_steps"]), seed=seed)
  heldout, info = {}, {}
  with timed() as fitting:
    for name in c["surrogates"]:
      surrogate, features = surrogate_explainer(s, name, fit).fitted(ctx)
      heldout[name] = sg.heldout_metrics(surrogate, features, data, heldout_users,
                                         points=True)
      info[name] = surrogate.info
  timings["fit_surrogates_s"] = fitting.seconds
  heldout_points = {name: {key: fit_result.pop(key) for key in ("predicted", "actual")}
                    for name, fit_result in heldout.items() if "predicted" in fit_result}
  return Prepared(s, ctx, top1_targets(ctx, s.test_users), fit, heldout, info, timings,
                  heldout_points)


def load(config) -> Interactions:
  """The config's dataset (any alias of `cfjax.data.canonical_name`)."""
  return cfdata.load(config.dataset, data_dir=config.data_dir)


# -------------------------------------------------------------------------------- Table 3


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
  """Table 3's layout: ours beside the paper's percentage at every K, and the held-out fit."""
  header = ["method"] + [f"K={k} ours / paper" for k in KS] + ["held-out fit", "users"]
  paper = {(c["method"], c["k"]): c["paper_percent"] for c in table["cells"]}
  rows = []
  for method, summary in table["methods"].items():
    cells = []
    for k in KS:
      value = paper[(method, k)]
      cells.append(f"{100 * summary['validity'][k]:.1f}% / " +
                   ("-" if value is None else f"{value:g}%"))
    rows.append([LABELS.get(method, method)] + cells +
                [fit_text(table["heldout"].get(method, {})), summary["users"]])
  text = markdown_table(header, rows) + "".join(f"\n{line}\n" for line in table["warnings"])
  cost = table["verified_cost"]
  if cost:
    text += (f"\nverified: found a candidate that left the top-1 under the verification seed "
             f"for {cost['found']}/{cost['users']} users, {cost['mean_retrains']:.2f} retrains "
             f"per user on average (budget {verify_budget}).\n")
  return text


def table3_model(config, name: str, full: Interactions, model_dir: str | os.PathLike, *,
                 progress: bool = True) -> tuple[dict, str]:
  """Runs (or finds finished) Table 3 for one recommender into `model_dir`.

  Returns:
    (table.json's dict, table.md's text).
  """
  results = ResultsDir(model_dir)
  s = setup(config, name, full)
  done = results.finished(s.record)
  if done is not None:
    return done, (results.path / "table.md").read_text(encoding="utf-8")
  with timed() as total:
    p = prepare(s, store_dir=results.path / "simulation", cache_dir=config.cache_dir,
                progress=progress)
    records, facts = explain_table3(p)
    with timed() as verifying:
      verified = verify(records, model=s.model, train=s.train, original=p.ctx.original,
                        protocol=s.spec.with_seeds(s.record["verify_seeds"]).with_chunk_size(
                            s.settings.chunk_size), ks=KS, progress=progress)
    summaries = summarize_by_method(verified, KS)
    cells = [{"method": m, "k": k, "ours_percent": 100 * summary["validity"][k],
              "paper_percent": published.yao_table3(name, s.dataset, m, k)}
             for m, summary in summaries.items() for k in KS]
    test_rmse = rmse(s.model, p.ctx.params, s.test)
    baseline_rmse = constant_rmse(s.train, s.test)
    table = {"methods": summaries, "ks": list(KS), "cells": cells, "heldout": p.heldout,
             "warnings": noise_floor_warnings(summaries, KS) + fit_warnings(test_rmse,
                                                                           baseline_rmse),
             "constant_rmse": baseline_rmse,
             "verified_cost": facts["verified_cost"], "test_rmse": test_rmse,
             "scale": s.record["scale"], "model": name, "dataset": s.dataset}
    markdown = table3_markdown(table, s.config["verify_budget"])
    if facts["influence_note"]:
      markdown += f"\n{facts['influence_note']}\n"
  data = p.ctx.simulation.data
  record = dict(s.record, metrics={
      "test_rmse": test_rmse, "simulated_models": data.num_models,
      "simulation_retrain_s": data.seconds, "heldout": p.heldout,
      "verified_cost": facts["verified_cost"], "surrogate_info": p.surrogate_info,
      "explain_seconds_per_user": facts["explain_seconds_per_user"],
      "influence_note": facts["influence_note"]})
  record["timings"] = {**p.timings, "explain_s": facts["explain_s"],
                       **({"verified_s": facts["verified_s"]} if "verified_s" in facts else {}),
                       "verify_s": verifying.seconds, "total_s": total.seconds}
  results.write(config=record, records=verified, rows=verified_rows(verified), table=table,
                markdown=markdown)
  surrogate_figure(p.heldout_points, p.heldout, results.path / "surrogate_fit.png",
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


@holds_workdir
def run_table3(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Yao et al.'s Table 3 for every requested recommender, each into `workdir/<model>`.

  Also writes a combined table.md and table.json at the top of `workdir`.

  Args:
    config: `experiments/configs/table3.py`'s fields.
    workdir: the results directory.
    progress: show the engine's progress bars.

  Returns:
    {"dataset", "preset", "models": {model: that model's table.json}}.
  """
  check_config(config)
  names = models_of(config)
  full = load(config)
  dataset = cfdata.canonical_name(config.dataset)
  tables, texts = {}, []
  for name in names:
    table, text = table3_model(config, name, full, pathlib.Path(workdir) / name,
                               progress=progress)
    tables[name] = table
    texts.append(model_heading(table) + text)
  combined = {"dataset": dataset, "preset": config.preset, "models": tables}
  write_summary(workdir, combined, scale_line(config, dataset) + "\n".join(texts))
  return combined


# -------------------------------------------------------------------------------- Table 2


def warm_timed(fn: Callable[[], Any]) -> tuple[Any, float]:
  """(fn(), seconds) of a second call, after one untimed call that compiles."""
  fn()
  with timed() as watch:
    result = fn()
  return result, watch.seconds


def explainer_makers(p: Prepared) -> dict[str, Callable[[bool], Any]]:
  """Table 2's methods: name -> (batched -> explainer); surrogates as fitted in `p`."""
  size = int(p.setup.config["deletion_size"])
  makers = {"knn": lambda batched: get_explainer("knn", e=size)}
  if p.setup.config["influence"]:
    makers["influence_function"] = lambda batched: get_explainer(
        "influence_function", e=size, on_fail="ignore")
  for name in p.setup.config["surrogates"]:
    makers[name] = lambda batched, name=name: surrogate_explainer(p.setup, name, p.fit,
                                                                  batched=batched)
  return makers


def time_explainers(p: Prepared) -> tuple[dict, list[Explanation]]:
  """Seconds per explanation of every method, one target per call and all targets at once.

  KNN's batched form is one [I, B] similarity matrix, the influence function's one batched
  inverse-HVP computation, a surrogate's every target's candidates scored in shared chunks.

  Returns:
    ({method: {"one_at_a_time_s", "batched_s", "same_choice", "pairs", "fit_s",
    "paper_s"}}, the one-at-a-time records of every method).
  """
  ctx, targets = p.ctx, p.targets
  singles = [targets.select(np.asarray([b])) for b in range(len(targets))]
  out, records = {}, []
  for method, make in explainer_makers(p).items():
    one, batched = make(False), make(True)
    one_records, one_seconds = warm_timed(
        lambda: [r for single in singles for r in one.explain(ctx, single)])
    batch_records, batch_seconds = warm_timed(lambda: batched.explain(ctx, targets))
    same = np.mean([sorted(a.deleted_items) == sorted(b.deleted_items)
                    for a, b in zip(one_records, batch_records)])
    out[method] = {"one_at_a_time_s": one_seconds / len(targets),
                   "batched_s": batch_seconds / len(targets), "same_choice": float(same),
                   "pairs": len(targets),
                   "fit_s": p.surrogate_info.get(method, {}).get("seconds"),
                   "paper_s": published.YAO_TABLE2_SECONDS.get(method)}
    records += one_records
  return out, records


def table2_markdown(table: dict) -> str:
  """Table 2's layout: ours one at a time and batched beside the paper's seconds."""
  number = lambda v: "-" if v is None else f"{v:.3g}"
  rows = [[LABELS.get(m, m), number(t["one_at_a_time_s"]), number(t["batched_s"]),
           number(t["paper_s"]), f"{100 * t['same_choice']:.0f}%", number(t["fit_s"])]
          for m, t in table["methods"].items()]
  scale = table["scale"]
  return (markdown_table(["method", "s / explanation, one at a time (ours)",
                          "s / explanation, batched (ours)", "paper (one at a time)",
                          "same choice", "surrogate fit s (one-off)"], rows) +
          f"\n{scale['pairs']} pairs ({scale['dataset']}, {scale['model']}); surrogate search "
          f"over <= {scale['candidates_max']} candidate {scale['e']}-subsets per pair (mean "
          f"{scale['mean_candidates']:.0f}); {scale['device']} ({scale['cores']} cores). The "
          "paper's machine and candidate counts differ.\n")


def table3_store(config, name: str) -> pathlib.Path | None:
  """The simulation store of the finished Table 3 run `config.table3_dir` names, or None."""
  if not config.table3_dir:
    return None
  folder = pathlib.Path(config.table3_dir) / name
  if not (folder / "table.json").is_file():
    raise ValueError(f"table3_dir={config.table3_dir}: {folder} holds no finished Table 3 run "
                     "(no table.json); run experiments.table3 with these settings first, or "
                     "leave table3_dir empty to simulate here")
  return folder / "simulation"


@holds_workdir
def run_table2(config, workdir: str | os.PathLike, *, progress: bool = True) -> dict:
  """Yao et al.'s Table 2 for one recommender: seconds per explanation, both ways.

  Args:
    config: `experiments/configs/table2.py`'s fields (Table 3's, plus `table3_dir`).
    workdir: the results directory.
    progress: show the engine's progress bars.

  Returns:
    table.json's dict: {"methods": {method: timings}, "scale": {...}}.
  """
  check_config(config)
  names = models_of(config)
  if len(names) != 1:
    raise ValueError("Table 2 times one recommender; pass --model=mf or --model=ncf")
  reused = table3_store(config, names[0])
  results = ResultsDir(workdir)
  s = setup(config, names[0], load(config))
  done = results.finished(s.record)
  if done is not None:
    return done
  with timed() as total:
    p = prepare(s, store_dir=reused or results.path / "simulation",
                cache_dir=config.cache_dir, own_store=reused is None, progress=progress)
    methods, records = time_explainers(p)
  candidates = [r.extra["candidates"] for r in records if "candidates" in r.extra]
  scale = {"pairs": len(p.targets), "candidates_max": int(config.candidates),
           "mean_candidates": float(np.mean(candidates)) if candidates else None,
           "e": int(config.deletion_size), "model": names[0], "dataset": s.dataset,
           "device": s.record["environment"]["device_kind"], "cores": os.cpu_count(),
           "simulation": str(reused or results.path / "simulation")}
  table = {"methods": methods, "scale": scale}
  rows = [{"method": m, **t} for m, t in methods.items()]
  record = dict(s.record, timings={**p.timings, "total_s": total.seconds},
                metrics={"surrogate_info": p.surrogate_info, "heldout": p.heldout})
  results.write(config=record, records=records, rows=rows, table=table,
                markdown=table2_markdown(table))
  return table


# ------------------------------------------------------------------------------ ablations


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


@holds_workdir
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
    raise ValueError("the config lists no variants; see experiments/configs/ablations.py")
  order = sorted(config.variants, key=lambda name: (
      ABLATION_ORDER.index(name) if name in ABLATION_ORDER else len(ABLATION_ORDER), name))
  variants = {name: variant_config(config, config.variants[name]) for name in order}
  for variant in variants.values():
    check_config(variant)
  tables, seconds, texts = {}, {}, []
  for name, variant in variants.items():
    start = time.perf_counter()
    tables[name] = run_table3(variant, pathlib.Path(workdir) / name, progress=progress)
    seconds[name] = time.perf_counter() - start
    texts.append(f"## {name}\n\n" +
                 (pathlib.Path(workdir) / name / "table.md").read_text(encoding="utf-8"))
  header = ["variant", "surrogate", "K=1", "K=3", "K=5", "paper K=1 (sec. 6.3)", "held-out fit"]
  rows = ablation_rows(tables)
  summary = (markdown_table(header, rows) + "\nwall time: " +
             ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + "\n")
  result = {"rows": [dict(zip(header, row)) for row in rows], "seconds": seconds,
            "variants": tables}
  write_summary(workdir, result, summary + "\n" + "\n".join(texts))
  return result
