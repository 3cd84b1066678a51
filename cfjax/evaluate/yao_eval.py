"""Evaluating counterfactual explanations as Yao et al. do (sec. 6.1, Table 3).

Test users are disjoint from the surrogate's training users; each user's target is their
top-1 unseen item; each method's explanation (e = 3 items) is deleted and the recommender
retrained (one batched `cfjax.evaluate.verify` call over every method); a method's score at
K is the share of targets that left the top-K (eq. 2). Controls in every table: `random`
(a placebo deletion of the same size) and `none` (nothing deleted, retrained under the
verification seed: the noise floor).

`verified` (cfjax's, not the paper's): the surrogate's best candidates are checked in order
by batched retraining until one truly removes the target from the top-K, within a budget of
retrains per user; its cost is reported beside its validity.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.evaluate import baselines
from cfjax.evaluate.records import ExplanationRecord
from cfjax.evaluate.verify import verify
from cfjax.explain import search as search_lib
from cfjax.explain import surrogate as sg
from cfjax.explain.knn import explain_knn
from cfjax.models.base import Recommender
from cfjax.train import TrainState


def sample_test_users(train: Interactions, exclude: Sequence[int], count: int, *, min_history: int,
               seed: int) -> np.ndarray:
  """`count` users with >= min_history training rows, none of them in `exclude`."""
  eligible = np.setdiff1d(np.flatnonzero(train.user_counts >= min_history),
                          np.asarray(exclude, dtype=np.int64))
  if len(eligible) < count:
    raise ValueError(f"only {len(eligible)} eligible users outside the surrogate's training "
                     f"users, fewer than {count}; ask for fewer test users")
  return np.sort(np.random.default_rng([seed, 0x7E57]).choice(eligible, count, replace=False))


def control_records(train: Interactions, users, items, *, size: int,
                    seed: int) -> list[ExplanationRecord]:
  """The `random` placebo and the `none` noise floor for every (user, item)."""
  rng = np.random.default_rng([seed, 0xC0])
  return [r for u, i in zip(users, items) for r in (
      baselines.random_explanation(train, int(u), int(i), size, rng),
      baselines.empty_explanation(int(u), int(i)))]


def influence_records(model: Recommender, params, train: Interactions, users, items, *,
                      size: int) -> tuple[list[ExplanationRecord], str | None]:
  """Influence-function explanations (eq. 10, MINRES on the full Hessian) and a note saying
  how many solves converged (a non-converged solve gives approximate influences)."""
  from cfjax.explain.influence_fn import explain_influence_function
  records = explain_influence_function(model, params, train, list(map(int, users)),
                                       list(map(int, items)), e=size, on_fail="ignore")
  converged = [bool(r.extra.get("cg_converged", True)) for r in records]
  residuals = [float(r.extra.get("cg_residual", 0.0)) for r in records]
  note = None
  if not all(converged):
    note = (f"influence_function: {len(converged) - sum(converged)} of {len(converged)} "
            f"MINRES solves did not reach the tolerance (median relative residual "
            f"{float(np.median(residuals)):.2g}); their influences are approximate")
  return [dataclasses.replace(r, method="influence_function") for r in records], note


def baseline_records(model, params, train, users, items, *, size: int, seed: int,
                     influence: bool = True):
  """knn, influence_function (when available), random and none records, and a note."""
  records = explain_knn(model, params, train, users, items, e=size)
  note = None
  if influence:
    extra, note = influence_records(model, params, train, users, items, size=size)
    records += extra
  return records + control_records(train, users, items, size=size, seed=seed), note


def verified_records(surrogate: sg.Surrogate, context: sg.RecommenderContext, *,
                     model: Recommender, train: Interactions, original: TrainState, users,
                     items, size: int, max_candidates: int, budget: int, per_round: int,
                     k: int, search_seed: int, verify_seed: int, steps: int,
                     batch_size: int | None = None, chunk_size: int = 1,
                     progress: bool = False) -> list[ExplanationRecord]:
  """`verified`: check the surrogate's ranked candidates by retraining until one works.

  Each round verifies the next `per_round` candidates of every unresolved user in ONE
  batched `verify` call under `verify_seed`; a user is resolved by the first candidate whose
  target leaves the top-`k`. After `budget` candidates the best-scored one is kept.

  Returns:
    One record per user, method "verified", extra {"retrains", "found", "rank_in_search"}.
  """
  ranked = {int(u): search_lib.search(surrogate, context, train, int(u), int(i), size=size,
                                      max_candidates=max_candidates, keep=budget,
                                      seed=search_seed).subsets
            for u, i in zip(users, items)}
  target = dict(zip(map(int, users), map(int, items)))
  chosen = {u: (0, False) for u in ranked}
  tried = {u: 0 for u in ranked}
  engine_models = 0
  while True:
    todo = [u for u in ranked if not chosen[u][1] and tried[u] < len(ranked[u])]
    if not todo:
      break
    batch = [(u, p) for u in todo for p in range(tried[u], min(tried[u] + per_round,
                                                             len(ranked[u])))]
    records = [ExplanationRecord(u, target[u], tuple(int(x) for x in ranked[u][p]),
                                 method="verified") for u, p in batch]
    results = verify(records, model=model, train=train, original=original,
                     seeds=(verify_seed,), steps=steps, batch_size=batch_size, ks=(k,),
                     chunk_size=chunk_size, progress=progress)
    engine_models += len(batch) + len(todo)
    for (u, p), result in zip(batch, results):
      tried[u] = max(tried[u], p + 1)
      if result.left_top_k[k] and not chosen[u][1]:
        chosen[u] = (p, True)
  return [ExplanationRecord(u, target[u], tuple(int(x) for x in ranked[u][chosen[u][0]]),
                            method="verified",
                            extra={"retrains": tried[u], "found": chosen[u][1],
                                   "rank_in_search": chosen[u][0], "k": k,
                                   "verification_seed": verify_seed,
                                   "engine_models_total": engine_models})
          for u in ranked]


def validity_rows(summaries: dict[str, dict], ks: Sequence[int]) -> dict[str, dict[int, float]]:
  """method -> {K: share of targets that left the top-K}."""
  return {m: {int(k): s["validity"][k] for k in ks} for m, s in summaries.items()}
