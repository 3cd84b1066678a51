"""Wen et al. (LCER), Tables 2 and 3 and the lambda / alpha sweep (Figures 8-9), on Mult-VAE.

Every table explains the same recommendations: Mult-VAE (Liang et al. 2018) is trained on the
VAE split of the dataset (`make_vae_split`, split seed 98765 + seed; best epoch by validation
NDCG@100) and the first `num_users` test users' fold-in rows x [U, I] (non-empty ones) are its
input. Mult-VAE is amortised, so a user's recommendations are a function of x_u alone and
removing items from x_u and re-scoring IS the counterfactual (nothing is retrained). The
methods run through the explainer protocol on

  ExplainContext(model=fold_in_recommender(vae, x), params, train=Interactions.from_dense(x))

with targets every (row u, top-K item) pair in row-major order (U * K targets):

  table name   registry name   options
  fia          loo_fia         k                        (footnote 9: leave-one-out influences)
  accent       loo_accent      k                        (replacement: the (K+1)-th item)
  kaffes       kaffes          k, max_expansions
  lcer         lcer            k, lam, alpha, steps, seed = 1000 + config seed, chunk_size

Records keep the registry name in `method`; tables use the paper's names (`LABELS`). Each
record's `extra` gets the position of the item in the list, the dataset ids, and its PS / PN
outcomes (eqs. 13-14, `sufficiency_necessity`); `lcer_metrics` turns them into Val, Len, PS, PN
and F_NS (section 4.1).

Reuse: the trained Mult-VAE and every LCER grid point (records of one (K, lambda, alpha)) are
cached under `config.cache_dir`, keyed by everything they depend on (settings, data checksum,
library source hash); Table 3 and the sweep also take baselines and LCER at the paper's lambda
from a finished Table 2 run made with the same preparation and method settings.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Callable, Sequence

import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pandas as pd

from cfjax import data as cfdata
from cfjax import util
from cfjax.data.interactions import Interactions
from cfjax.data.vae_split import HELDOUT_USERS, VaeSplit, make_vae_split
from cfjax.evaluate.lcer_metrics import lcer_metrics, sufficiency_necessity
from cfjax.evaluate.results import ResultsDir, markdown_table
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.models.multvae import (MultVAE, TrainResult, fold_in_recommender, make_multvae,
                                  train_multvae)
from cfjax.papers.common import holds_workdir, run_config
from cfjax.papers.published import LCER_LAMBDA_ALPHA, LCER_TABLE1, LCER_TABLE2, LCER_TABLE3
from cfjax.records import Explanation, load_records, read_jsonl, save_records

# Table name -> explainer registry name.
METHODS = {"fia": "loo_fia", "kaffes": "kaffes", "accent": "loo_accent", "lcer": "lcer"}
LABELS = {"fia": "FIA", "kaffes": "KaffesCE", "accent": "Accent", "lcer": "LCER"}
# Settings a method's records depend on, beyond the preparation (`Setup.key`) and K. LCER's
# chunk_size only batches pairs (tests/explain/test_lcer.py checks the sets do not change), but
# another batch shape is another XLA program, so it is part of the key too.
METHOD_SETTINGS = {"fia": (), "accent": (), "kaffes": ("kaffes_expansions",),
                   "lcer": ("lam", "alpha", "steps", "chunk_size")}
DATASETS = ("movielens-100k", "ml-1m")
OFFLINE = {"alishop": "Alishop", "epinions": "Epinions"}
SPLIT_SEED, LCER_SEED = 98765, 1000  # offsets added to config.seed (the old runners' keys)
BASELINES = ("kaffes", "accent")  # Table 3's baselines

TABLE2_HEADER = ["method", "K", "Val %", "Len", "PS %", "PN %", "F_NS %", "paper Val %",
                 "paper Len", "paper PS %", "paper PN %", "paper F_NS %"]
TABLE3_HEADER = ["compared with", "method", "lambda", "Val %", "Len", "PS %", "PN %", "F_NS %",
                 "Len gap", "paper (Epinions) Val %", "paper Len", "paper PS %", "paper PN %",
                 "paper F_NS %"]
SWEEP_FIELDS = ["param", "lam", "alpha", "validity", "length", "ps", "pn", "f_ns", "found",
                "pairs", "source", "seconds"]
METRIC_FIELDS = SWEEP_FIELDS[3:10]

Progress = Callable[[str], None]


# ------------------------------------------------------------------------- settings

def dataset_name(name: str) -> str:
  """The canonical name of an LCER dataset: "ml-100k"/"movielens-100k" -> "movielens-100k",
  "ml-1m" -> "ml-1m" ("synthetic" too, for tests; it has no paper lambda/alpha).

  Raises:
    ValueError: for Alishop and Epinions (their files are not available offline) and for any
      dataset the paper does not use.
  """
  key = str(name).strip().lower()
  if key in OFFLINE:
    raise ValueError(f"{OFFLINE[key]}: its files are not available offline; run "
                     "--dataset=ml-100k or --dataset=ml-1m")
  canonical = cfdata.canonical_name(key)
  if canonical not in DATASETS + ("synthetic",):
    raise ValueError(f"LCER runs on ml-100k or ml-1m, not {name!r}; pass --dataset=ml-100k")
  return canonical


def _check_count(config, name: str, minimum: int = 1) -> None:
  value = config.get(name)
  if value is None or isinstance(value, bool) or int(value) != value or value < minimum:
    raise ValueError(f"config.{name}={value!r} must be an integer >= {minimum}; "
                     f"pass --config.{name}=<n>")


def _check_weight(name: str, value) -> None:
  if value is None or isinstance(value, bool) or not math.isfinite(float(value)) or value < 0:
    raise ValueError(f"{name}={value!r} must be a finite number >= 0 (paper: lambda 0.01-0.05, "
                     "alpha 0.02-0.1)")


def resolve(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A checked copy of a config with the dataset canonical and lambda / alpha filled in.

  Everything is checked before any data is loaded or model trained: counts (num_users, steps,
  epochs, kaffes_expansions, k / ks, heldout_users) must be integers >= 1, lambda and alpha
  (and the grids `lambdas`, `alphas`) finite and >= 0, methods known. A None `lam` / `alpha`
  becomes the dataset's paper value (Wen et al., sec. 4.1, `LCER_LAMBDA_ALPHA`), a None
  `heldout_users` the paper's 100 (ML-100K) or 500 (ML-1M).

  Raises:
    ValueError: one line naming the bad setting and the fix.
  """
  resolved = ml_collections.ConfigDict(config.to_dict())
  resolved.dataset = dataset_name(config.dataset)
  for name in ("num_users", "steps", "epochs", "kaffes_expansions"):
    _check_count(resolved, name)
  for name in ("k", "heldout_users", "chunk_size"):
    if resolved.get(name) is not None:
      _check_count(resolved, name)
  if "ks" in resolved and not resolved.ks:
    raise ValueError("config.ks is empty; pass at least one list length, e.g. (5, 10)")
  for k in resolved.get("ks", ()):
    _check_count({"ks": k}, "ks")
  for name in ("lam", "alpha"):
    if resolved[name] is not None:
      _check_weight(f"config.{name}", resolved[name])
  for grid in ("lambdas", "alphas"):
    if grid in resolved:
      if not resolved[grid]:
        raise ValueError(f"config.{grid} is empty; pass at least one value")
      for value in resolved[grid]:
        _check_weight(f"each of config.{grid}", value)
  unknown = sorted(set(resolved.get("methods", ())) - set(METHODS))
  if unknown or ("methods" in resolved and not resolved.methods):
    raise ValueError(f"config.methods {list(resolved.get('methods', ()))} must be a non-empty "
                     f"subset of {', '.join(METHODS)}")
  paper = LCER_LAMBDA_ALPHA.get(resolved.dataset)
  if paper is None and (resolved.lam is None or resolved.alpha is None):
    raise ValueError(f"{resolved.dataset} has no paper lambda/alpha; pass --config.lam and "
                     "--config.alpha")
  if resolved.lam is None:
    resolved.lam = paper[0]
  if resolved.alpha is None:
    resolved.alpha = paper[1]
  resolved.lam, resolved.alpha = float(resolved.lam), float(resolved.alpha)
  if resolved.get("heldout_users") is None:
    if resolved.dataset not in HELDOUT_USERS:
      raise ValueError(f"{resolved.dataset} has no paper test-user count; pass "
                       "--config.heldout_users")
    resolved.heldout_users = HELDOUT_USERS[resolved.dataset]
  return resolved


# ---------------------------------------------------------------------- preparation

@dataclasses.dataclass(frozen=True)
class Prepared:
  """What every LCER table explains: the trained Mult-VAE and the context of its test users.

  Attributes:
    split: the VAE split.
    vae: the Mult-VAE.
    trained: its training result (params of the best validation epoch).
    ctx: the explain context over x, the first `num_users` non-empty test fold-in rows.
    inputs: float32[U, I] x (user u of the context is row u).
    test_rows: int[U] the row of `split.test_tr` of each context user.
    key: `Setup.key`, for cache keys and Table 2 reuse.
    info: {"seconds", "loaded", "cache"} of the Mult-VAE training.
  """

  split: VaeSplit
  vae: MultVAE
  trained: TrainResult
  ctx: ExplainContext
  inputs: np.ndarray
  test_rows: np.ndarray
  key: dict
  info: dict

  @property
  def users(self) -> np.ndarray:
    """int64[U] the context's users 0..U-1."""
    return np.arange(self.ctx.model.num_users)

  def targets(self, k: int) -> tuple[Targets, np.ndarray]:
    """(every (user, top-K item) pair in row-major order, int[U * K] 1-based positions)."""
    items = self.ctx.top_k(self.users, k)[0]
    return (Targets(np.repeat(self.users, k), items.reshape(-1)),
            np.tile(np.arange(1, k + 1), len(self.users)))


@dataclasses.dataclass(frozen=True)
class Setup:
  """The VAE split, the (untrained) Mult-VAE and what the explained pairs depend on.

  Attributes:
    split: the VAE split of the dataset (split seed 98765 + seed).
    vae: the Mult-VAE sized for it.
    key: {"train": what the trained Mult-VAE depends on (data checksum, split, seed, epochs,
      hyperparameters, library source hash), "num_users", "lcer_seed"}: with K and the
      method's settings, everything a record set depends on. JSON values.
  """

  split: VaeSplit
  vae: MultVAE
  key: dict


def setup(config, data: Interactions) -> Setup:
  """The split and the model of a `resolve`d config, before any training (seconds)."""
  split = make_vae_split(data, n_heldout_users=int(config.heldout_users),
                         seed=SPLIT_SEED + int(config.seed))
  vae = make_multvae(split.num_items)
  train = {"model": "multvae", "hparams": vae.hparams, "data_sha256": cfdata.data_checksum(data),
           "dataset": config.dataset, "heldout_users": int(config.heldout_users),
           "split_seed": SPLIT_SEED + int(config.seed), "seed": int(config.seed),
           "epochs": int(config.epochs), "code": util.source_hash()}
  key = {"train": train, "num_users": int(config.num_users),
         "lcer_seed": LCER_SEED + int(config.seed)}
  return Setup(split=split, vae=vae, key=json.loads(util.to_json(key)))


def trained_multvae(vae: MultVAE, split: VaeSplit, key: dict, *, seed: int, epochs: int,
                    cache_dir) -> tuple[TrainResult, dict]:
  """`train_multvae` (Liang et al., best epoch by validation NDCG@100), from a cache if saved.

  Args:
    vae: the model.
    split: its data.
    key: what the result depends on (`Setup.key["train"]`); names the cache file.
    seed: seed of init, shuffling and dropout (jax.random.key(seed)).
    epochs: training epochs.
    cache_dir: where trained models are kept (None: no cache).

  Returns:
    (the `TrainResult`, {"seconds", "loaded", "cache"}).
  """
  path = None if not cache_dir else (
      pathlib.Path(cache_dir) / f"multvae-{key['dataset']}-{util.digest(key)}.msgpack")
  payload = None if path is None else util.load_checked(path)
  if payload is not None:
    try:
      saved = flax.serialization.msgpack_restore(payload)
      result = TrainResult(params=jax.tree.map(jnp.asarray, saved["params"]),
                           best_epoch=int(saved["best_epoch"]),
                           best_ndcg=float(saved["best_ndcg"]), val_ndcg=saved["val_ndcg"],
                           train_loss=saved["train_loss"], updates=int(saved["updates"]))
      return result, {"seconds": 0.0, "loaded": True, "cache": str(path)}
    except Exception as error:  # noqa: BLE001 (msgpack raises many types on bad bytes)
      util.warn_damaged(path, error)
  with util.timed() as watch:
    result = train_multvae(vae, split.train, split.val_tr, split.val_te,
                           key=jax.random.key(seed), epochs=epochs)
    jax.block_until_ready(result.params)
  if path is not None:
    util.save_checked(path, flax.serialization.msgpack_serialize(
        {"params": jax.tree.map(np.asarray, result.params), "best_epoch": result.best_epoch,
         "best_ndcg": result.best_ndcg, "val_ndcg": np.asarray(result.val_ndcg),
         "train_loss": np.asarray(result.train_loss), "updates": result.updates}))
  return result, {"seconds": watch.seconds, "loaded": False,
                  "cache": None if path is None else str(path)}


def prepare(config, data: Interactions, planned: Setup | None = None) -> Prepared:
  """The VAE split of `data`, Mult-VAE trained on it, and the context of the test users.

  Args:
    config: a `resolve`d config (dataset, seed, epochs, num_users, heldout_users, cache_dir).
    data: the dataset's interactions (ratings; > 3.5 are positives).
    planned: `setup(config, data)` if already made.

  Returns:
    The `Prepared` tables share.
  """
  planned = planned or setup(config, data)
  split, vae = planned.split, planned.vae
  trained, info = trained_multvae(vae, split, planned.key["train"], seed=int(config.seed),
                                  epochs=int(config.epochs), cache_dir=config.get("cache_dir"))
  rows = split.test_tr[:int(config.num_users)]
  test_rows = np.flatnonzero(rows.sum(axis=1) > 0)
  x = rows[test_rows]
  ctx = ExplainContext(model=fold_in_recommender(vae, x), params=trained.params,
                       train=Interactions.from_dense(x, name=f"{config.dataset}-test-fold-in"))
  return Prepared(split=split, vae=vae, trained=trained, ctx=ctx, inputs=x,
                  test_rows=test_rows, key=planned.key, info=info)


# ----------------------------------------------------------------------- explaining

def explainer_options(method: str, k: int, settings) -> dict:
  """`get_explainer` options of a table method at K (settings: kaffes_expansions, lam, alpha,
  steps, seed, chunk_size)."""
  if method == "kaffes":
    return {"k": k, "max_expansions": int(settings["kaffes_expansions"])}
  if method == "lcer":
    return {"k": k, "lam": float(settings["lam"]), "alpha": float(settings["alpha"]),
            "steps": int(settings["steps"]), "seed": LCER_SEED + int(settings["seed"]),
            "chunk_size": settings.get("chunk_size")}
  return {"k": k}


def with_outcomes(prep: Prepared, records: Sequence[Explanation], k: int,
                  positions: np.ndarray) -> list[Explanation]:
  """The records with their outcomes in extra (Wen et al., eqs. 13-14).

  sufficient: i stays in the top-K of x* = e * x_u (only C kept); necessary: i leaves the
  top-K of x~ = (1 - e) * x_u (C removed); e bool[P, I] marks C.

  Args:
    prep: the preparation (x, the model, the dataset ids).
    records: P records of context users.
    k: the list length K.
    positions: int[P] each target's 1-based position in its list.

  Returns:
    The records with extra {"position", "sufficient", "necessary", "dataset_user",
    "dataset_item"} added.
  """
  users = np.asarray([r.user for r in records])
  items = np.asarray([r.item for r in records])
  removed = np.zeros((len(records), prep.ctx.model.num_items), bool)
  for p, record in enumerate(records):
    removed[p, list(record.deleted_items)] = True
  score_rows = prep.ctx.model.require("score_rows", "PS/PN (Wen et al., eqs. 13-14)")
  sufficient, necessary = sufficiency_necessity(score_rows, prep.ctx.params, prep.inputs[users],
                                                removed, items, k)
  return [dataclasses.replace(record, extra={
      **record.extra, "position": int(positions[p]), "sufficient": bool(sufficient[p]),
      "necessary": bool(necessary[p]),
      "dataset_user": int(prep.split.test_users[prep.test_rows[record.user]]),
      "dataset_item": int(prep.split.item_ids[record.item])})
      for p, record in enumerate(records)]


def explain(prep: Prepared, method: str, k: int, settings) -> tuple[list[Explanation], float]:
  """One table method's records of every (user, top-K item) target, with their outcomes.

  Args:
    prep: the preparation.
    method: a table method name (fia, kaffes, accent, lcer).
    k: the list length K.
    settings: the config (or a dict) with the method's options (`explainer_options`).

  Returns:
    (U * K records in target order, seconds spent explaining).
  """
  targets, positions = prep.targets(k)
  explainer = get_explainer(METHODS[method], **explainer_options(method, k, settings))
  with util.timed() as watch:
    records = run_explainer(explainer, prep.ctx, targets)
  return with_outcomes(prep, records, k, positions), watch.seconds


def metrics_of(method: str, records: Sequence[Explanation]) -> dict:
  """Val, Len, PS, PN, F_NS (fractions) of one method's records; FIA has no Val."""
  return lcer_metrics(records, len(records), report_validity=method != "fia")


def record_rows(records: Sequence[Explanation]) -> list[dict]:
  """One flat rows.csv row per record."""
  return [{"method": r.method, "k": r.extra.get("k"), "user": r.user, "item": r.item,
           "position": r.extra.get("position"), "found": bool(r.deleted_items),
           "length": len(r.deleted_items), "deleted_items": " ".join(map(str, r.deleted_items)),
           "sufficient": r.extra.get("sufficient"), "necessary": r.extra.get("necessary"),
           **{key: r.extra[key] for key in ("lambda", "alpha", "compared_with")
              if key in r.extra}}
          for r in records]


def _percent(value):
  return None if value is None else round(100 * value, 2)


def _cells(metrics: dict) -> list:
  return [_percent(metrics["validity"]), metrics["length"], _percent(metrics["ps"]),
          _percent(metrics["pn"]), _percent(metrics["f_ns"])]


# ------------------------------------------------------------------------------ reuse

def _same_pairs(records: Sequence[Explanation], targets: Targets) -> bool:
  return [(r.user, r.item) for r in records] == list(targets)


def table2_records(prep: Prepared, k: int, methods: Sequence[str], settings,
                   table2_dir) -> dict[str, list[Explanation]]:
  """Records of `methods` at K from a finished Table 2 run, where they are this run's.

  A method is reused only if the run had the same preparation (`Prepared.key`: data, split,
  Mult-VAE training, users, code), the same method settings (`METHOD_SETTINGS`, from
  `settings`) and records for exactly this run's targets.

  Returns:
    {method: records} for the methods found (possibly empty).
  """
  if not table2_dir:
    return {}
  path = pathlib.Path(table2_dir)
  try:
    old = json.loads((path / "config.json").read_text())
    found = (path / "table.json").is_file()
  except (OSError, ValueError):
    return {}
  if not found or old.get("prepared") != prep.key:
    return {}
  try:
    records = read_jsonl(path / "explanations.jsonl")
  except (OSError, ValueError):
    return {}
  targets, _ = prep.targets(k)
  out = {}
  for method in methods:
    if any(old["config"].get(name) != settings[name] for name in METHOD_SETTINGS[method]):
      continue
    mine = [r for r in records if r.method == METHODS[method] and r.extra.get("k") == k]
    if mine and _same_pairs(mine, targets):
      out[method] = mine
  return out


def lcer_point(prep: Prepared, k: int, settings, *, cache_dir, table2_dir=None,
               progress: Progress = print) -> tuple[list[Explanation], float, str]:
  """LCER's records at (K, settings["lam"], settings["alpha"]): cached, from Table 2, or run.

  The cache file (under `cache_dir`, written atomically) is keyed by the preparation key
  (`Setup.key`: data checksum, split, Mult-VAE training, users, LCER seed, library source hash),
  K and LCER's settings (`METHOD_SETTINGS`), so it is reused only for identical work; a point
  found in Table 2 is copied into the cache. Grid points are computed one by one, so an
  interrupted grid resumes where it stopped.

  Returns:
    (records, seconds spent now, source: "cache", "table2" or "computed").
  """
  key = dict(prep.key, method="lcer", k=int(k), lam=float(settings["lam"]),
             alpha=float(settings["alpha"]), steps=int(settings["steps"]),
             chunk_size=settings.get("chunk_size"))
  path = None if not cache_dir else pathlib.Path(cache_dir) / (
      f"lcer-{prep.key['train']['dataset']}-k{k}-lam{key['lam']:g}-alpha{key['alpha']:g}-"
      f"{util.digest(key)}.jsonl")
  targets, _ = prep.targets(k)
  if path is not None:
    records = load_records(path)
    if records is not None and _same_pairs(records, targets):
      return records, 0.0, "cache"
    if records is not None:
      progress(f"{path} does not hold this run's pairs; recomputing it")
  found = table2_records(prep, k, ["lcer"], settings, table2_dir)
  if "lcer" in found:
    records, seconds, source = found["lcer"], 0.0, "table2"
  else:
    records, seconds = explain(prep, "lcer", k, settings)
    source = "computed"
  if path is not None:
    save_records(path, records)
  return records, seconds, source


def _mult_vae_line(prep: Prepared) -> str:
  how = "loaded from the cache" if prep.info["loaded"] else f"{prep.info['seconds']:.1f} s"
  return (f"Mult-VAE: best epoch {prep.trained.best_epoch}, validation NDCG@100 "
          f"{prep.trained.best_ndcg:.4f} ({how})")


def _start(config, workdir, runner: str):
  """(resolved config, results dir, config.json record, data, setup, finished table or None);
  checks the config before loading anything."""
  resolved = resolve(config)
  results = ResultsDir(workdir)
  data = cfdata.load(resolved.dataset, data_dir=resolved.get("data_dir"))
  planned = setup(resolved, data)
  record = run_config(resolved, data, runner=runner, model="multvae", prepared=planned.key)
  return resolved, results, record, data, planned, results.finished(record)


def _facts(prep: Prepared, timings: dict) -> dict:
  """config.json's volatile part: timings and the Mult-VAE's training facts."""
  return {"timings": timings, "metrics": {
      "best_epoch": prep.trained.best_epoch, "val_ndcg100": prep.trained.best_ndcg,
      "mult_vae_loaded": prep.info["loaded"], "mult_vae_cache": prep.info["cache"]}}


# --------------------------------------------------------------------------- Table 2

@holds_workdir
def run_table2(config, workdir, *, progress: Progress = print) -> dict:
  """Wen et al., Table 2: FIA, KaffesCE, ACCENT and LCER on Mult-VAE's top-K lists.

  For each K in `config.ks` (5, 10) and method in `config.methods`, explains the U * K
  (test user, top-K item) pairs and reports Val, Len, PS, PN and F_NS (section 4.1) beside the
  paper's numbers (`LCER_TABLE2`). A finished run with the same config is returned as is.

  Args:
    config: `experiments/configs/lcer_table2.py`'s fields.
    workdir: the results directory.
    progress: called with one line per finished step.

  Returns:
    table.json's dict: {"metrics": {"<method>@<K>": metrics}, "rows", "header", "counts",
    "best_epoch", "val_ndcg100"}.
  """
  with util.timed() as total:
    config, results, record, data, planned, done = _start(config, workdir, "lcer_table2")
    if done is not None:
      progress(f"reusing the finished run in {workdir}")
      return done
    prep = prepare(config, data, planned)
    progress(_mult_vae_line(prep))
    metrics, records, timings = {}, [], {"mult_vae": prep.info["seconds"]}
    for k in config.ks:
      for method in METHODS:
        if method not in config.methods:
          continue
        found, seconds = explain(prep, method, k, config)
        metrics[(method, k)] = metrics_of(method, found)
        timings[f"{method}@{k}"] = seconds
        records += found
        progress(f"K={k} {method}: {metrics[(method, k)]} ({seconds:.1f} s)")
    rows = [[LABELS[m], k] + _cells(metrics[(m, k)])
            + list(LCER_TABLE2.get((config.dataset, m, k), (None,) * 5))
            for k in config.ks for m in METHODS if (m, k) in metrics]
  timings["total"] = total.seconds
  counts = prep.split.counts
  markdown = (f"LCER Table 2 on {config.dataset} (preset {config.preset}; lambda={config.lam}, "
              f"alpha={config.alpha}, {config.steps} LCER steps, {config.num_users} test users; "
              f"Mult-VAE best epoch {prep.trained.best_epoch}, val NDCG@100 "
              f"{prep.trained.best_ndcg:.4f})\n\n" + markdown_table(TABLE2_HEADER, rows)
              + f"\nData: {counts}; paper Table 1: {LCER_TABLE1.get(config.dataset)}.\n"
              + f"Run time: {timings['total']:.0f} s.\n")
  table = {"metrics": {f"{m}@{k}": v for (m, k), v in metrics.items()}, "rows": rows,
           "header": TABLE2_HEADER, "counts": counts, "best_epoch": prep.trained.best_epoch,
           "val_ndcg100": prep.trained.best_ndcg}
  record.update(_facts(prep, timings))
  results.write(config=record, records=records, rows=record_rows(records), table=table,
                markdown=markdown)
  return table


# --------------------------------------------------------------------------- Table 3

def closest(grid: dict, length: float | None):
  """The lambda of `grid` ({lambda: metrics}) whose Len is closest to `length` (ties: the
  smaller lambda; points without any CE are skipped), or None."""
  if length is None:
    return None
  usable = [(abs(m["length"] - length), lam) for lam, m in grid.items()
            if m["length"] is not None]
  return min(usable)[1] if usable else None


def _table2_dir(config, runner: str = "lcer_table2") -> str:
  """config.table2_dir, else the Table 2 runner's default results/lcer_table2/<dataset>-<preset>
  (the dataset's canonical name, as the runner names it)."""
  return (config.get("table2_dir")
          or f"results/{runner}/{dataset_name(config.dataset)}-{config.preset}")


@holds_workdir
def run_table3(config, workdir, *, progress: Progress = print) -> dict:
  """Wen et al., Table 3: KaffesCE and ACCENT vs LCER when their lengths are close.

  LCER trades quality for length through lambda (eq. 12: larger lambda, shorter CEs). At
  K = `config.k` (5) and the dataset's alpha, LCER runs on the grid `config.lambdas`; for each
  baseline, the grid point whose mean Len is closest to the baseline's is reported beside it
  with the length gap (LCER Len - baseline Len). The paper's columns are its Epinions numbers
  (`LCER_TABLE3`; Epinions is not available offline), for reference only.

  Baselines and LCER at the paper's lambda come from a finished Table 2 run
  (`config.table2_dir`) when it explained the same pairs with the same settings; grid points
  are cached (`lcer_point`).

  Args:
    config: `experiments/configs/lcer_table3.py`'s fields.
    workdir: the results directory.
    progress: called with one line per finished step.

  Returns:
    table.json's dict: {"rows", "header", "matched_lambda", "baselines", "lcer_grid",
    "sources"}.
  """
  table2_dir = _table2_dir(config)
  with util.timed() as total:
    config, results, record, data, planned, done = _start(config, workdir, "lcer_table3")
    if done is not None:
      progress(f"reusing the finished run in {workdir}")
      return done
    prep = prepare(config, data, planned)
    progress(_mult_vae_line(prep))
    k = int(config.k)
    timings, sources = {"mult_vae": prep.info["seconds"]}, {}
    base = table2_records(prep, k, BASELINES, config, table2_dir)
    for method in BASELINES:
      sources[method] = "table2" if method in base else "computed"
      if method not in base:
        base[method], timings[method] = explain(prep, method, k, config)
    metrics = {m: metrics_of(m, base[m]) for m in BASELINES}
    for method in BASELINES:
      progress(f"{method} ({sources[method]}): {metrics[method]}")
    lambdas = sorted(float(v) for v in config.lambdas)
    grid, grid_records = {}, {}
    for lam in lambdas:
      point = dict(config.to_dict(), lam=lam)
      found, seconds, source = lcer_point(prep, k, point, cache_dir=config.get("cache_dir"),
                                          table2_dir=table2_dir, progress=progress)
      grid[lam], grid_records[lam] = metrics_of("lcer", found), found
      timings[f"lcer@lambda={lam:g}"], sources[f"lcer@lambda={lam:g}"] = seconds, source
      progress(f"LCER lambda={lam:g} ({source}, {seconds:.0f} s): {grid[lam]}")
    rows, matched, records = [], {}, []
    for b in BASELINES:
      lam = matched[b] = closest(grid, metrics[b]["length"])
      paper = LCER_TABLE3[b]
      rows.append([LABELS[b], LABELS[b], None] + _cells(metrics[b]) + [None] + list(paper[b]))
      if lam is None:
        rows.append([LABELS[b], "LCER", None] + [None] * 6 + list(paper["lcer"]))
      else:
        gap = grid[lam]["length"] - metrics[b]["length"]
        rows.append([LABELS[b], "LCER", lam] + _cells(grid[lam]) + [round(gap, 3)]
                    + list(paper["lcer"]))
      records += [dataclasses.replace(r, extra={**r.extra, "compared_with": b})
                  for r in base[b]]
    for lam in lambdas:
      records += [dataclasses.replace(r, extra={**r.extra, "lambda": lam})
                  for r in grid_records[lam]]
  timings["total"] = total.seconds
  grid_rows = [[lam, config.alpha] + _cells(grid[lam]) for lam in lambdas]
  markdown = (
      f"LCER Table 3 (length-matched) on {config.dataset}, top-{k} (preset {config.preset}; "
      f"alpha={config.alpha}, {config.steps} LCER steps, {config.num_users} test users; "
      f"Mult-VAE best epoch {prep.trained.best_epoch}). For each baseline, LCER at the lambda "
      f"of the grid {lambdas} whose mean length is closest to the baseline's; 'Len gap' = LCER "
      "Len - baseline Len. The paper's columns are its Epinions numbers (Epinions is not "
      "available offline).\n\n" + markdown_table(TABLE3_HEADER, rows)
      + "\nLCER over the lambda grid:\n\n"
      + markdown_table(["lambda", "alpha", "Val %", "Len", "PS %", "PN %", "F_NS %"], grid_rows)
      + f"\nSources: {sources}.\nRun time: {timings['total']:.0f} s.\n")
  table = {"rows": rows, "header": TABLE3_HEADER, "matched_lambda": matched,
           "baselines": metrics, "lcer_grid": {f"{lam:g}": grid[lam] for lam in lambdas},
           "sources": sources}
  record.update(_facts(prep, timings))
  results.write(config=record, records=records, rows=record_rows(records), table=table,
                markdown=markdown)
  return table


# ----------------------------------------------------------------------------- sweep

def sweep_points(config) -> list[tuple[str, float, float]]:
  """(arm, lambda, alpha) of the sweep: lambda over `lambdas` at alpha = config.alpha
  (Figure 8), then alpha over `alphas` at lambda = config.lam (Figure 9)."""
  return ([("lambda", float(v), float(config.alpha)) for v in config.lambdas]
          + [("alpha", float(config.lam), float(v)) for v in config.alphas])


def _sweep_row(param: str, lam, alpha, metrics: dict, source: str, seconds: float) -> dict:
  return {"param": param, "lam": lam, "alpha": alpha, **{f: metrics[f] for f in METRIC_FIELDS},
          "source": source, "seconds": round(seconds, 1)}


# param -> (row key of the varied value, row key and label of the fixed one, file name)
FIGURES = {"lambda": ("lam", "alpha", "alpha", "sweep_lambda.png"),  # Figure 8
           "alpha": ("alpha", "lam", "lambda", "sweep_alpha.png")}  # Figure 9
LINES = (("validity", "Val"), ("ps", "PS"), ("pn", "PN"), ("f_ns", "F_NS"))
PLOT_HINT = "pip install -e '.[plot]'"


def best_baselines(baselines: Sequence[dict]) -> dict:
  """Per metric, the best value of the CE baselines (KaffesCE, ACCENT; FIA has no validity and
  is not a CE method): the dashed lines of Figures 8-9. Metrics no baseline defines are left
  out."""
  values = {}
  for b in baselines:
    if b["param"] == "baseline:fia":
      continue
    for metric, _ in LINES:
      if b[metric] is not None:
        values[metric] = max(values.get(metric, b[metric]), b[metric])
  return values


def _as_percent(value) -> float:
  """A metric fraction as a percentage; NaN (a gap in the line) when it is undefined."""
  return float("nan") if value is None else 100.0 * value


def _draw(fig, sub: list[dict], param: str, baselines: dict) -> None:
  """One sweep arm on `fig`: metric lines (%) on the left axis, Len bars on the right axis,
  the baselines' best value per metric dashed."""
  key, fixed, fixed_label, _ = FIGURES[param]
  ax = fig.add_subplot()
  xs = range(len(sub))
  bars = ax.twinx()
  bars.bar(xs, [r["length"] if r["length"] is not None else 0.0 for r in sub], width=0.5,
           color="gray", alpha=0.3)
  bars.set_ylabel("Len (bars)")
  ax.set_zorder(bars.get_zorder() + 1)  # lines over the bars
  ax.patch.set_visible(False)
  for n, (metric, label) in enumerate(LINES):
    ax.plot(xs, [_as_percent(r[metric]) for r in sub], marker="o", color=f"C{n}", label=label)
    if metric in baselines:
      ax.axhline(_as_percent(baselines[metric]), linestyle="--", linewidth=1, color=f"C{n}")
  ax.set_xticks(list(xs), [f"{r[key]:g}" for r in sub])
  ax.set_xlabel(param)
  ax.set_ylabel("%")
  fig.legend(loc="outside lower center", ncols=len(LINES), fontsize="small")
  note = ", dashed: best of KaffesCE/ACCENT" if baselines else ""
  ax.set_title(f"LCER vs {param} ({fixed_label} = {sub[0][fixed]:g}{note})", fontsize="medium")


def plot_sweep(rows: Sequence[dict], output_dir, baselines: Sequence[dict] = (), *,
               progress: Progress = print) -> list[pathlib.Path]:
  """Figures 8-9 as PNGs in `output_dir`: sweep_lambda.png (metrics vs lambda at fixed alpha)
  and sweep_alpha.png (metrics vs alpha at fixed lambda), from the sweep's rows.

  Val, PS, PN and F_NS are lines (%), Len bars on a second axis, the best CE baseline per
  metric dashed. An arm without rows gets no figure. matplotlib is optional (the `plot`
  extra): without it, says so in one line through `progress` and returns [].

  Returns:
    The paths written.
  """
  try:
    from matplotlib.figure import Figure  # Agg canvas for PNGs; no pyplot, no global state
  except ImportError:
    progress(f"matplotlib is not installed: figures skipped (to get them: {PLOT_HINT})")
    return []
  best = best_baselines(baselines)
  written = []
  for param, (*_, name) in FIGURES.items():
    sub = [r for r in rows if r["param"] == param]
    if not sub:
      continue
    fig = Figure(figsize=(6, 4), layout="constrained")
    _draw(fig, sub, param, best)
    path = pathlib.Path(output_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    written.append(path)
  return written


@holds_workdir
def run_sweep(config, workdir, *, progress: Progress = print) -> dict:
  """Wen et al., Figures 8-9: LCER's Val, Len, PS, PN and F_NS as lambda or alpha varies.

  lambda over `config.lambdas` at the dataset's alpha, then alpha over `config.alphas` at the
  dataset's lambda, top-`config.k`, LCER only (grid points cached, shared with Table 3). The
  baselines of a finished Table 2 run with the same settings (`config.table2_dir`) become
  `baseline:<method>` rows, the dashed lines of the figures.

  Writes sweep.csv (one row per grid point, then the baselines), the figures sweep_lambda.png
  and sweep_alpha.png (when matplotlib is installed), then the results files (config.json,
  explanations.jsonl, rows.csv, table.md, table.json).

  Args:
    config: `experiments/configs/lcer_sweep.py`'s fields.
    workdir: the results directory.
    progress: called with one line per grid point.

  Returns:
    table.json's dict: {"rows": the sweep rows, "baselines", "figures"}.
  """
  table2_dir = _table2_dir(config)
  with util.timed() as total:
    config, results, record, data, planned, done = _start(config, workdir, "lcer_sweep")
    if done is not None:
      progress(f"reusing the finished run in {workdir}")
      return done
    prep = prepare(config, data, planned)
    progress(_mult_vae_line(prep))
    k = int(config.k)
    rows, records = [], {}
    for param, lam, alpha in sweep_points(config):
      point = dict(config.to_dict(), lam=lam, alpha=alpha)
      found, seconds, source = lcer_point(prep, k, point, cache_dir=config.get("cache_dir"),
                                          table2_dir=table2_dir, progress=progress)
      rows.append(_sweep_row(param, lam, alpha, metrics_of("lcer", found), source, seconds))
      records[(lam, alpha)] = [dataclasses.replace(r, extra={**r.extra, "lambda": lam,
                                                             "alpha": alpha}) for r in found]
      progress(str(rows[-1]))
    found = table2_records(prep, k, ("fia", "kaffes", "accent"), config, table2_dir)
    baselines = [_sweep_row(f"baseline:{m}", None, None, metrics_of(m, found[m]), "table2", 0.0)
                 for m in ("fia", "kaffes", "accent") if m in found]
    util.atomic_write_text(pathlib.Path(workdir) / "sweep.csv",
                           pd.DataFrame(rows + baselines, columns=SWEEP_FIELDS).to_csv(
                               index=False))
    figures = [path.name for path in plot_sweep(rows, workdir, baselines, progress=progress)]
  record.update(_facts(prep, {"mult_vae": prep.info["seconds"], "total": total.seconds}))
  header = ["arm", "lambda", "alpha", "Val %", "Len", "PS %", "PN %", "F_NS %", "found",
            "source"]
  cells = lambda r: ([r["param"], r["lam"], r["alpha"]] + _cells(r)
                     + [f"{r['found']}/{r['pairs']}", r["source"]])
  markdown = (f"LCER sweep (Wen et al., Figures 8-9) on {config.dataset}, top-{k} (preset "
              f"{config.preset}; paper lambda={config.lam}, alpha={config.alpha}; "
              f"{config.steps} LCER steps, {config.num_users} test users; Mult-VAE best epoch "
              f"{prep.trained.best_epoch})\n\n"
              + markdown_table(header, [cells(r) for r in rows + baselines])
              + f"\nFigures: {', '.join(figures) or 'none (matplotlib is not installed)'}.\n"
              + f"Run time: {total.seconds:.0f} s.\n")
  all_records = [r for point in records.values() for r in point]
  table = {"rows": rows, "baselines": baselines, "figures": figures}
  results.write(config=record, records=all_records, rows=record_rows(all_records), table=table,
                markdown=markdown)
  return table
