"""Yao, Wang and Li, "Learning to Counterfactually Explain Recommendations": the preparation
its Tables 3 and 2 and the ablations of sec. 6.3 share (`cfjax.papers.yao`).

One preparation serves all three (`setup`, then `prepare`): load the dataset, split it 70/30,
build the recommender with its per-model settings, train the original exactly as a paired
retrain would (`train_original_exact`), simulate counterfactual outcomes for sampled training
users (Algorithm 2, a resumable store), fit the surrogates on them (eq. 7) and score each on
held-out simulated users, and draw the test users (disjoint from the simulated ones) with
their top-1 unseen item as the target (sec. 6.1).

Published numbers come from `cfjax.papers.published`; display labels live here.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pathlib
import shutil

import numpy as np

from cfjax import data as cfdata
from cfjax.data.interactions import Interactions
from cfjax.explain import ExplainContext, Targets, get_explainer, top1_targets
from cfjax.explain import surrogate as sg
from cfjax.explain.search import SurrogateSearch
from cfjax.models import Recommender, make_model
from cfjax.papers import published
from cfjax.pipeline import data_info, engine_chunk_size, original_context, run_config
from cfjax.simulate import SimulationConfig, plan_fingerprint, plan_simulation, simulate
from cfjax.simulate.store import SimulationStore
from cfjax.train import RetrainProtocol
from cfjax.util import source_hash, timed

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
    seed_offset: verification retrains under seed + this (1: another seed, so `none`
      measures retraining noise; 0: paired with the original, the deletion is the only
      difference).
    chunk_size: models per compiled engine call.
  """

  name: str
  steps: int
  batch_size: int | None
  hparams: dict
  seed_offset: int
  chunk_size: int


def model_settings(config, name: str) -> ModelSettings:
  """`config.models.<name>` resolved: batch size 0 or None = full batch; chunk size from
  `config.chunk_size` or the engine's default for that batch size."""
  own = config.models[name]
  batch_size = int(own.batch_size) if own.batch_size else None
  return ModelSettings(name=name, steps=int(own.steps), batch_size=batch_size,
                       hparams=dict(own.hparams), seed_offset=int(own.seed_offset),
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
    config: a Table 3 config (`cfjax/experiments/configs/table3.py`).
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
                      verify_seeds=[seed + settings.seed_offset],
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
  ctx, training = original_context(s.model, s.train, s.spec, cache_dir=cache_dir,
                                   exact_chunk=s.settings.chunk_size)
  timings["train_original_s"] = training["seconds"]
  with timed() as simulating:
    data = simulate(s.model, s.train, ctx.params, s.train_users, simulation_config(s),
                    str(store_dir), extra_fingerprint=simulation_facts(s), progress=progress)
  timings["simulate_s"] = simulating.seconds
  fit_users, heldout_users = sg.split_users(s.train_users, c["heldout_fraction"], seed)
  ctx = dataclasses.replace(ctx, simulation=sg.Simulated(data, fit_users, heldout_users))
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


