"""Surrogate models of the counterfactual effect of deleting history (Yao et al., sec. 5.2).

A surrogate g(u, D_u, i) predicts Delta y (eqs. 3, 4, 11, 12) from the input of eq. 8,
[phi_u(u), sum_{d in D_u} phi_i(d), phi_i(i)], built from the recommender's OWN embeddings
(MF: the factors; NCF: its GMF and MLP embeddings concatenated). It is fitted by ERM (eq. 7)
on `cfjax.simulate` data and scored on HELD-OUT users.

Surrogates (name: family, representation, target):
  lasso_reg   LASSO with k-fold CV, eq. 8, eq. 3       ("Linear Surrogate (reg)")
  mlp_reg     3-layer MLP regressor, eq. 8, eq. 3      ("MLP Surrogate (reg)")
  logreg_clf  logistic regression (CV), eq. 8, eq. 4   ("Linear Surrogate (clf)")
  mlp_clf     3-layer MLP classifier, eq. 8, eq. 4     ("MLP Surrogate (clf)")
  lasso_rank, lasso_cross   LASSO on eqs. 11 / 12 (ablation, App. A)
  deepsets_reg  DeepSets representation of D_u with a linear head (ablation, sec. 6.3)
  coupled_reg   cfjax's own (NOT in the paper): LASSO over eq. 8 PLUS features that couple
    the deletion with the target item and with the user's ratings: sum(D) * i (the
    bilinear term), per-item ratings (centred on the user's mean) and training residuals
    r - f(u, d) weighting d and d * i, their dot products with i, and the target's position
    in the original list. A linear model over eq. 8 alone is additive in the deleted items
    and blind to the target, so it ranks a user's candidate deletions identically for every
    target item (docs/surrogate.md); these terms break that.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, NamedTuple, Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from cfjax import rank
from cfjax.data.interactions import Interactions
from cfjax.explain import surrogate_models as sm
from cfjax.models.base import Recommender
from cfjax.simulate.generate import SimulationData
from cfjax.types import Params


@dataclasses.dataclass(frozen=True)
class SurrogateSpec:
  """A surrogate's family ("lasso", "logistic", "mlp", "mlp_clf", "deepsets"), input
  representation ("paper" = eq. 8, "coupled", "deepsets") and target (eq. 3/4/11/12)."""

  family: str
  features: str
  target: str

  @property
  def classify(self) -> bool:
    return self.family in ("logistic", "mlp_clf")


SPECS = {
    "lasso_reg": SurrogateSpec("lasso", "paper", "reg"),
    "mlp_reg": SurrogateSpec("mlp", "paper", "reg"),
    "logreg_clf": SurrogateSpec("logistic", "paper", "clf"),
    "mlp_clf": SurrogateSpec("mlp_clf", "paper", "clf"),
    "lasso_rank": SurrogateSpec("lasso", "paper", "rank"),
    "lasso_cross": SurrogateSpec("lasso", "paper", "cross"),
    "deepsets_reg": SurrogateSpec("deepsets", "deepsets", "reg"),
    "coupled_reg": SurrogateSpec("lasso", "coupled", "reg"),
}


@dataclasses.dataclass(frozen=True, eq=False)
class SurrogateFeatures:
  """What the surrogate inputs are built from (host arrays).

  Attributes:
    user_emb: [U, p] user embeddings phi_u; item_emb: [I, q] item embeddings phi_i (the
      model's `user_embeddings` / `item_embeddings` hooks).
    centred_rating: [U, I] r_ud - mean_u for training pairs, 0 elsewhere.
    residual: [U, I] r_ud - f(u, d; theta-hat) for training pairs, 0 elsewhere.
    scores: [U, I] the original model's scores; seen: bool[U, I] training pairs.
  """

  user_emb: np.ndarray
  item_emb: np.ndarray
  centred_rating: np.ndarray
  residual: np.ndarray
  scores: np.ndarray
  seen: np.ndarray


def make_features(model: Recommender, params: Params, train: Interactions) -> SurrogateFeatures:
  """Builds the `SurrogateFeatures` of a trained recommender (eq. 8's phi_u, phi_i and the
  coupled representation's ratings and residuals)."""
  needed_by = "the surrogate's eq. 8 features"
  user_emb = np.asarray(model.require("user_embeddings", needed_by)(params))
  item_emb = np.asarray(model.require("item_embeddings", needed_by)(params))
  scores = rank.scores_of(model, params, np.arange(train.num_users))
  seen = train.seen_matrix()
  sums = np.bincount(train.user, weights=train.rating, minlength=train.num_users)
  mean = sums / np.maximum(train.user_counts, 1)
  centred = np.zeros_like(scores)
  centred[train.user, train.item] = train.rating - mean[train.user]
  residual = np.zeros_like(scores)
  residual[train.user, train.item] = train.rating - scores[train.user, train.item]
  return SurrogateFeatures(user_emb, item_emb, centred, residual, scores, seen)


@dataclasses.dataclass(frozen=True, eq=False)
class Simulated:
  """Simulated counterfactual outcomes (Algorithm 2) and who the surrogates learn from.

  Attributes:
    data: the `SimulationData`.
    fit_users: the simulated users the surrogates are fitted on.
    heldout_users: the simulated users held out to score the fit (`heldout_metrics`).
  """

  data: SimulationData
  fit_users: np.ndarray
  heldout_users: np.ndarray


class SurrogateInputs(NamedTuple):
  """A batch of (u, D_u, i) triples as arrays (a pytree).

  user_emb [B, p]; deleted_emb [B, R, q]; deleted_mask [B, R]; deleted_rating [B, R] (centred);
  deleted_residual [B, R]; item_emb [B, q]; pair [B, 3] (target's normalised original score,
  normalised gaps to its neighbours in the original list).
  """

  user_emb: Any
  deleted_emb: Any
  deleted_mask: Any
  deleted_rating: Any
  deleted_residual: Any
  item_emb: Any
  pair: Any


def pair_features(context: SurrogateFeatures, users, items) -> np.ndarray:
  """float32[B, 3]: the target's min-max normalised original score and gaps to the items
  ranked just above and below it (0 at the ends) among the user's unseen items."""
  users, items = np.asarray(users), np.asarray(items)
  out = np.zeros((len(users), 3), np.float32)
  for user in np.unique(users):
    where = np.flatnonzero(users == user)
    unseen = np.sort(context.scores[user][~context.seen[user]])[::-1]
    low, high = unseen[-1], unseen[0]
    scale = max(float(high - low), 1e-12)
    s = context.scores[user, items[where]]
    position = np.searchsorted(-unseen, -s, side="left")
    above = np.where(position > 0, unseen[np.maximum(position - 1, 0)] - s, 0.0)
    below_index = np.minimum(position + 1, len(unseen) - 1)
    below = np.where(position + 1 < len(unseen), s - unseen[below_index], 0.0)
    out[where] = np.stack([(s - low) / scale, above / scale, below / scale], axis=1)
  return out


def build_inputs(context: SurrogateFeatures, users, deleted_items, items,
                 pair: np.ndarray | None = None) -> SurrogateInputs:
  """Gathers the inputs of triples: users [B], deleted_items [B, R] (-1 padded), items [B]."""
  users, items = np.asarray(users), np.asarray(items)
  deleted = np.asarray(deleted_items)
  chex.assert_rank([users, deleted, items], [1, 2, 1])
  mask = deleted >= 0
  safe = np.where(mask, deleted, 0)
  rows = users[:, None]
  return SurrogateInputs(
      user_emb=context.user_emb[users], deleted_emb=context.item_emb[safe] * mask[..., None],
      deleted_mask=mask.astype(np.float32),
      deleted_rating=context.centred_rating[rows, safe] * mask,
      deleted_residual=context.residual[rows, safe] * mask, item_emb=context.item_emb[items],
      pair=pair_features(context, users, items) if pair is None else pair)


def paper_features(x: SurrogateInputs):
  """Eq. 8: [phi_u(u), sum_{d in D_u} phi_i(d), phi_i(i)]."""
  return jnp.concatenate([x.user_emb, x.deleted_emb.sum(1), x.item_emb], axis=-1)


def coupled_features(x: SurrogateInputs):
  """cfjax's coupled representation: eq. 8 plus deletion x target and rating terms."""
  item = x.item_emb[:, None, :]
  sum_d = x.deleted_emb.sum(1)
  rated = (x.deleted_rating[..., None] * x.deleted_emb).sum(1)
  resid = (x.deleted_residual[..., None] * x.deleted_emb).sum(1)
  dots = (x.deleted_emb * item).sum(-1)  # [B, R]: <d, i>
  scalars = jnp.stack([dots.sum(1), (x.deleted_rating * dots).sum(1),
                       (x.deleted_residual * dots).sum(1), x.deleted_rating.sum(1),
                       x.deleted_residual.sum(1)], axis=-1)
  return jnp.concatenate([paper_features(x), sum_d * x.item_emb, rated * x.item_emb,
                          resid * x.item_emb, rated, resid, scalars, x.pair], axis=-1)


FEATURES = {"paper": paper_features, "coupled": coupled_features}


@dataclasses.dataclass(frozen=True, eq=False)
class Surrogate:
  """A fitted surrogate g(u, D_u, i; alpha).

  Attributes:
    name: a `SPECS` key; spec: its `SurrogateSpec`.
    params: the fitted parameters (host pytree).
    mean, std: the feature standardisation (for deepsets: a dict per input).
    info: fitting facts (chosen regularisation, CV curve, rows, seconds).
  """

  name: str
  spec: SurrogateSpec
  params: Any
  mean: Any
  std: Any
  info: dict


def _standardise(x, mean, std):
  return (x - mean) / std


@functools.lru_cache(maxsize=None)
def _score_fn(spec: SurrogateSpec):
  """jit((params, mean, std, inputs) -> [B]): the value eq. 9 maximises."""

  def score(params, mean, std, x: SurrogateInputs):
    if spec.family == "deepsets":
      return sm.deepsets_apply(params, _standardise(x.user_emb, mean["u"], std["u"]),
                               _standardise(x.deleted_emb, mean["d"], std["d"]), x.deleted_mask,
                               _standardise(x.item_emb, mean["i"], std["i"]))
    z = _standardise(FEATURES[spec.features](x), mean, std)
    if spec.family == "lasso":
      return sm.predict_linear(params, z)
    if spec.family == "logistic":
      return sm.down_score(sm.predict_logits(params, z))
    out = sm.mlp_apply(params, z)
    return sm.down_score(out) if spec.family == "mlp_clf" else out[:, 0]

  return jax.jit(score)


def score(surrogate: Surrogate, inputs: SurrogateInputs) -> np.ndarray:
  """float[B]: predicted Delta y (regression) or log-odds of "moves down" (classification)."""
  return np.asarray(_score_fn(surrogate.spec)(surrogate.params, surrogate.mean, surrogate.std,
                                              inputs))


def predict_class(surrogate: Surrogate, inputs: SurrogateInputs) -> np.ndarray:
  """int[B] in {-1, 0, 1}: a classifier's predicted direction of rank change (eq. 4)."""
  spec = surrogate.spec
  if not spec.classify:
    raise ValueError(f"{surrogate.name} is a regressor; predict_class needs a classifier")
  z = _standardise(FEATURES[spec.features](inputs), surrogate.mean, surrogate.std)
  logits = (sm.predict_logits(surrogate.params, z) if spec.family == "logistic"
            else sm.mlp_apply(surrogate.params, z))
  return np.asarray(jnp.argmax(logits, -1)) - 1


# ----------------------------------------------------------------------------- fitting


@dataclasses.dataclass(frozen=True)
class FitOptions:
  """Fitting settings: CV folds, LASSO grid, MLP/DeepSets steps, row cap for the
  iterative families (rows are subsampled uniformly beyond it)."""

  num_folds: int = 5
  num_alphas: int = 12
  lasso_iters: int = 500
  logistic_steps: int = 300
  mlp_steps: int = 2000
  max_iterative_rows: int = 200_000
  seed: int = 0


def simulation_triples(data, users: Sequence[int] | None = None):
  """Flattens `SimulationData` to triples: (users [T], deleted [T, R], items [T], model index
  [T]) with T = models x N, restricted to `users` if given."""
  models = np.arange(data.num_models)
  if users is not None:
    models = models[np.isin(data.users, np.asarray(users))]
  n = data.top_items.shape[1]
  return (np.repeat(data.users[models], n), np.repeat(data.deleted_items[models], n, axis=0),
          data.top_items[models].reshape(-1), np.repeat(models, n))


def simulation_targets(data, target: str, users=None) -> np.ndarray:
  """[T] targets aligned with `simulation_triples`."""
  models = np.arange(data.num_models)
  if users is not None:
    models = models[np.isin(data.users, np.asarray(users))]
  return data.targets[target][models].reshape(-1)


def user_folds(users: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
  """int[T] fold of each row; all rows of a user share a fold (CV across users)."""
  distinct = np.unique(users)
  if len(distinct) < num_folds:
    raise ValueError(f"{len(distinct)} training users for {num_folds}-fold CV; simulate more "
                     "users or lower num_folds")
  fold_of = dict(zip(distinct.tolist(),
                     np.random.default_rng(seed).permutation(len(distinct)) % num_folds))
  return np.asarray([fold_of[int(u)] for u in users])


def fit_surrogate(name: str, context: SurrogateFeatures, data, users: Sequence[int],
                  options: FitOptions = FitOptions()) -> Surrogate:
  """Fits surrogate `name` (eq. 7) on the simulated rows of `users`.

  Args:
    name: a key of `SPECS`.
    context: the recommender's embeddings and ratings.
    data: `cfjax.simulate.SimulationData`.
    users: the training users to fit on (hold others out for `heldout_metrics`).
    options: `FitOptions`.

  Returns:
    The fitted `Surrogate`.
  """
  if name not in SPECS:
    raise ValueError(f"unknown surrogate {name!r}; choose one of {sorted(SPECS)}")
  spec = SPECS[name]
  start = time.perf_counter()
  tri_users, deleted, items, _ = simulation_triples(data, users)
  y = simulation_targets(data, spec.target, users).astype(np.float64)
  if len(y) == 0:
    raise ValueError(f"no simulated rows for the {len(users)} given users; pass simulated users")
  inputs = build_inputs(context, tri_users, deleted, items)
  rng = np.random.default_rng(options.seed)
  info = {"rows": int(len(y)), "users": int(len(np.unique(tri_users)))}
  if spec.family == "deepsets":
    keep = (rng.choice(len(y), options.max_iterative_rows, replace=False)
            if len(y) > options.max_iterative_rows else np.arange(len(y)))
    stats = lambda a, axes: (a.mean(axes), a.std(axes) + 1e-6)
    mu_u, sd_u = stats(inputs.user_emb, 0)
    mu_i, sd_i = stats(inputs.item_emb, 0)
    flat = inputs.deleted_emb[inputs.deleted_mask > 0]
    mu_d, sd_d = stats(flat, 0)
    params = sm.deepsets_fit((inputs.user_emb[keep] - mu_u) / sd_u,
                             (inputs.deleted_emb[keep] - mu_d) / sd_d * inputs.deleted_mask[
                                 keep][..., None], inputs.deleted_mask[keep],
                             (inputs.item_emb[keep] - mu_i) / sd_i, y[keep],
                             steps=options.mlp_steps, seed=options.seed)
    mean = {"u": mu_u, "d": mu_d, "i": mu_i}
    std = {"u": sd_u, "d": sd_d, "i": sd_i}
  else:
    x = np.asarray(FEATURES[spec.features](jax.tree.map(jnp.asarray, inputs)))
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    folds = user_folds(tri_users, options.num_folds, options.seed)
    if spec.family == "lasso":
      params, extra = sm.lasso_cv(z, y, folds, num_alphas=options.num_alphas,
                                  iters=options.lasso_iters)
    else:
      keep = (rng.choice(len(y), options.max_iterative_rows, replace=False)
              if len(y) > options.max_iterative_rows else np.arange(len(y)))
      if spec.family == "logistic":
        params, extra = sm.logistic_cv(z[keep], y[keep], folds[keep],
                                       steps=options.logistic_steps)
      else:
        # early stopping on one fold of USERS: the net sees only a few distinct user
        # embeddings and otherwise memorises them (held-out R^2 far below 0)
        extra = {}
        params = sm.mlp_fit(z[keep], y[keep], classify=spec.classify, steps=options.mlp_steps,
                            seed=options.seed, valid=folds[keep] == 0, info=extra)
    info.update(extra)
  info["seconds"] = time.perf_counter() - start
  return Surrogate(name, spec, jax.tree.map(np.asarray, params), mean, std, info)


def heldout_metrics(surrogate: Surrogate, context: SurrogateFeatures, data,
                    users: Sequence[int], points: bool = False) -> dict:
  """Fit on HELD-OUT users: R^2 (regression) or accuracy (classification) over their rows.

  R^2 = 1 - SSE / SST with SST around the held-out mean; accuracy is also reported beside
  the majority-class rate of the held-out rows. With `points`, a regression surrogate's
  result also holds "predicted" and "actual" [rows] (Yao et al.'s Figure 3).
  """
  tri_users, deleted, items, _ = simulation_triples(data, users)
  if len(tri_users) == 0:
    raise ValueError("no simulated rows for the held-out users; pass simulated users")
  y = simulation_targets(data, surrogate.spec.target, users).astype(np.float64)
  inputs = build_inputs(context, tri_users, deleted, items)
  out = {"rows": int(len(y)), "users": int(len(np.unique(tri_users)))}
  if surrogate.spec.classify:
    predicted = predict_class(surrogate, inputs)
    counts = np.unique(y, return_counts=True)[1]
    out.update(accuracy=float(np.mean(predicted == y)),
               majority_rate=float(counts.max() / len(y)))
  else:
    predicted = score(surrogate, inputs).astype(np.float64)
    total = np.sum(np.square(y - y.mean()))
    out["r2"] = float(1.0 - np.sum(np.square(y - predicted)) / max(total, 1e-12))
    if points:
      out.update(predicted=predicted.tolist(), actual=y.tolist())
  return out


def split_users(users: Sequence[int], heldout_fraction: float, seed: int):
  """(fit users, held-out users): a seeded split of distinct users (>= 1 in each part)."""
  distinct = np.unique(np.asarray(users))
  if len(distinct) < 2:
    raise ValueError("need >= 2 simulated users to hold some out; simulate more users")
  order = np.random.default_rng(seed).permutation(distinct)
  held = min(max(1, int(round(heldout_fraction * len(distinct)))), len(distinct) - 1)
  return np.sort(order[held:]), np.sort(order[:held])


SIMULATION_BLOCK = 96  # retrains per saved block of `simulate_for`'s store


def simulate_for(ctx, *, users: int, subsets: int, size: int, heldout_fraction: float,
                 seed: int, top_n: int = 20, store_dir: str | None = None,
                 progress: bool = True) -> Simulated:
  """Simulates Algorithm 2 for a context that has none: `users` random users with at least
  max(2 * size, 5) training items, `subsets` deletions of `size` items each, retrained under
  `ctx.spec` (paired with the original's seed), split into fit and held-out users.

  Args:
    ctx: an `ExplainContext` with a `spec`.
    users: simulated users (the paper: 200).
    subsets: deletion subsets per user (the paper: 1000).
    size: items per subset (the paper: 3).
    heldout_fraction: share of the simulated users held out from the fit.
    seed: seed of the user sample, the subsets and the split.
    top_n: N, the user's top items whose change is recorded.
    store_dir: where the resumable store lives (default: a temporary directory); it is written
      in blocks of at most SIMULATION_BLOCK retrains, so an interrupted run loses one block.
    progress: show the engine's progress bar per block.

  Returns:
    The `Simulated` outcomes.
  """
  import tempfile

  from cfjax.data.transforms import sample_users
  from cfjax.simulate.generate import SimulationConfig, simulate

  spec = ctx.require_spec("the surrogate's simulation")
  chosen = sample_users(ctx.train, users, min_history=max(2 * size, 5), seed=seed)
  config = SimulationConfig(subsets_per_user=subsets, deletion_size=size, top_n=top_n,
                            seed=seed, retrain_seed=spec.seed, steps=spec.steps,
                            batch_size=spec.batch_size,
                            block_size=max(1, min(users * subsets, SIMULATION_BLOCK)),
                            chunk_size=spec.models_per_call)
  with tempfile.TemporaryDirectory() as temporary:
    data = simulate(ctx.model, ctx.train, ctx.params, chosen, config, store_dir or temporary,
                    progress=progress)
  fit_users, heldout_users = split_users(chosen, heldout_fraction, seed)
  return Simulated(data, fit_users, heldout_users)
