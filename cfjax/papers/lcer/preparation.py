"""Wen et al. (LCER) on Mult-VAE: what its Tables 2 and 3 and its sweep share (`cfjax.papers.lcer`).

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
  lcer         lcer            k, lam, alpha, steps, seed = 1000 + config seed,
                               targets_per_batch

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

from cfjax import data as cfdata
from cfjax import util
from cfjax.data.interactions import Interactions
from cfjax.data.vae_split import HELDOUT_USERS, VaeSplit, make_vae_split
from cfjax.evaluate.lcer_metrics import lcer_metrics, sufficiency_necessity
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.models.multvae import (MultVAE, TrainResult, fold_in_recommender, make_multvae,
                                  train_multvae)
from cfjax.papers.published import LCER_LAMBDA_ALPHA
from cfjax.pipeline import Run, run_config
from cfjax.records import Explanation, load_records, read_jsonl, save_records

# Table name -> explainer registry name.
METHODS = {"fia": "loo_fia", "kaffes": "kaffes", "accent": "loo_accent", "lcer": "lcer"}
LABELS = {"fia": "FIA", "kaffes": "KaffesCE", "accent": "Accent", "lcer": "LCER"}
# Settings a method's records depend on, beyond the preparation (`Setup.key`) and K. LCER's
# targets_per_batch only batches pairs (tests/explain/test_lcer.py checks the sets do not
# change), but another batch shape is another XLA program, so it is part of the key too.
METHOD_SETTINGS = {"fia": (), "accent": (), "kaffes": ("kaffes_expansions",),
                   "lcer": ("lam", "alpha", "steps", "targets_per_batch")}
DATASETS = ("movielens-100k", "ml-1m")
# Datasets of LCER's Table 2 that this runner does not take yet, and why (one line each).
NOT_RUNNABLE = {
    "alishop": "Alishop: its training split (train.csv) was not found anywhere reachable (only "
               "the validation and test files were); it would go in <data_dir>/alishop/train.csv "
               "beside them (docs/datasets.md); run --dataset=ml-100k or --dataset=ml-1m",
    "epinions": "Epinions loads (cfjax.data.load('epinions'), LCER's preprocessing: "
                "lcer_positives), but the runner's Mult-VAE split is dense: ~9.3 GiB for its "
                "101,817 items, and training takes ~22 CPU-hours (docs/datasets.md); run "
                "--dataset=ml-100k or --dataset=ml-1m",
}
SPLIT_SEED, LCER_SEED = 98765, 1000  # offsets added to config.seed (the old runners' keys)

Progress = Callable[[str], None]


# ------------------------------------------------------------------------- settings

def dataset_name(name: str) -> str:
  """The canonical name of an LCER dataset: "ml-100k"/"movielens-100k" -> "movielens-100k",
  "ml-1m" -> "ml-1m" ("synthetic" too, for tests; it has no paper lambda/alpha).

  Raises:
    ValueError: for Alishop (its training split is missing) and Epinions (not yet runnable at
      its scale: `NOT_RUNNABLE`), and for any dataset the paper does not use.
  """
  key = str(name).strip().lower()
  if key in NOT_RUNNABLE:
    raise ValueError(NOT_RUNNABLE[key])
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
  for name in ("k", "heldout_users", "targets_per_batch"):
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
  steps, seed, targets_per_batch)."""
  if method == "kaffes":
    return {"k": k, "max_expansions": int(settings["kaffes_expansions"])}
  if method == "lcer":
    return {"k": k, "lam": float(settings["lam"]), "alpha": float(settings["alpha"]),
            "steps": int(settings["steps"]), "seed": LCER_SEED + int(settings["seed"]),
            "targets_per_batch": settings.get("targets_per_batch")}
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


def percent(value):
  return None if value is None else round(100 * value, 2)


def metric_cells(metrics: dict) -> list:
  return [percent(metrics["validity"]), metrics["length"], percent(metrics["ps"]),
          percent(metrics["pn"]), percent(metrics["f_ns"])]


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
             targets_per_batch=settings.get("targets_per_batch"))
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




def mult_vae_line(prep: Prepared) -> str:
  """One progress line: the Mult-VAE's best epoch and validation NDCG@100, and its source."""
  how = "loaded from the cache" if prep.info["loaded"] else f"{prep.info['seconds']:.1f} s"
  return (f"Mult-VAE: best epoch {prep.trained.best_epoch}, validation NDCG@100 "
          f"{prep.trained.best_ndcg:.4f} ({how})")


def begin(config, run: Run, runner: str, progress: Progress):
  """The start every LCER table shares: checks the config before loading anything, keeps the
  config.json record on `run`, then returns a finished run's table or prepares the Mult-VAE.

  Returns:
    (the resolved config, the `Prepared` or None, the finished table or None).
  """
  resolved = resolve(config)
  data = cfdata.load(resolved.dataset, data_dir=resolved.get("data_dir"))
  planned = setup(resolved, data)
  record = run_config(resolved, data, runner=runner, model="multvae", prepared=planned.key)
  done = run.finished(record)
  if done is not None:
    progress(f"reusing the finished run in {run.path}")
    return resolved, None, done
  prep = prepare(resolved, data, planned)
  progress(mult_vae_line(prep))
  run.timings["mult_vae"] = prep.info["seconds"]
  return resolved, prep, None


def prepared_metrics(prep: Prepared) -> dict:
  """config.json's metrics of the Mult-VAE's training."""
  return {"best_epoch": prep.trained.best_epoch, "val_ndcg100": prep.trained.best_ndcg,
          "mult_vae_loaded": prep.info["loaded"], "mult_vae_cache": prep.info["cache"]}


def table2_dir_of(config, runner: str = "lcer_table2") -> str:
  """config.table2_dir, else the Table 2 runner's default results/lcer_table2/<dataset>-<preset>
  (the dataset's canonical name, as the runner names it)."""
  return (config.get("table2_dir")
          or f"results/{runner}/{dataset_name(config.dataset)}-{config.preset}")
