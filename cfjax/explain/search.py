"""Generating explanations with a surrogate: the subset search of Yao et al. (eq. 9).

E*_{u,i} = argmax_{E subset I_u, |E| = e} g(u, E, i): sample up to `max_candidates` distinct
e-subsets of the user's history (all of them when there are fewer), score every candidate in
one batched surrogate call and keep the best (or the best few, in order, for `verified`).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import ClassVar

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.explain import surrogate as sg
from cfjax.explain.base import ExplainContext, Targets, register
from cfjax.util import check_int, check_number
from cfjax.records import Explanation
from cfjax.simulate import sampling

SEARCH_SALT = 0x5EA6C4


def candidate_subsets(history: np.ndarray, size: int, max_candidates: int,
                      seed: int) -> np.ndarray:
  """int64[C, size]: distinct candidate explanations (all if C(|I_u|, e) <= max_candidates)."""
  rng = np.random.default_rng([SEARCH_SALT, int(seed)])
  return sampling.sample_subsets(history, max_candidates, size, rng)


def _bucket(count: int) -> int:
  """Pads candidate batches to a power of two (>= 256) so the scorer compiles few shapes."""
  return max(256, 1 << (int(count) - 1).bit_length())


def score_candidates(surrogate: sg.Surrogate, context: sg.SurrogateFeatures, user: int,
                     item: int, candidates: np.ndarray) -> np.ndarray:
  """float[C]: g(u, E, i) for every candidate E (one batched call, padded to a bucket)."""
  count = len(candidates)
  padded = np.concatenate([candidates, np.repeat(candidates[-1:], _bucket(count) - count, 0)])
  pair = np.repeat(sg.pair_features(context, [user], [item]), len(padded), 0)
  inputs = sg.build_inputs(context, np.full(len(padded), user), padded,
                           np.full(len(padded), item), pair=pair)
  return sg.score(surrogate, inputs)[:count]


@dataclasses.dataclass(frozen=True)
class SearchResult:
  """The ranked candidates of one (u, i): best first.

  Attributes:
    subsets: int64[B, e] the top-B candidates by surrogate score, best first.
    scores: float[B] their scores.
    num_candidates: how many candidates were scored.
    seconds: wall time of sampling and scoring.
  """

  subsets: np.ndarray
  scores: np.ndarray
  num_candidates: int
  seconds: float


def search(surrogate: sg.Surrogate, context: sg.SurrogateFeatures, train: Interactions,
           user: int, item: int, *, size: int = 3, max_candidates: int = 100_000,
           keep: int = 1, seed: int = 0) -> SearchResult:
  """Eq. 9 for one (user, item): the `keep` best candidates by surrogate score."""
  start = time.perf_counter()
  history = train.history_items(int(user))
  if len(history) < size:
    raise ValueError(f"user {user} has {len(history)} training items, fewer than e={size}; "
                     "skip users with short histories")
  candidates = candidate_subsets(history, size, max_candidates, seed + int(user))
  values = score_candidates(surrogate, context, int(user), int(item), candidates)
  order = np.argsort(-values, kind="stable")[:keep]
  return SearchResult(candidates[order], values[order], len(candidates),
                      time.perf_counter() - start)


def score_in_chunks(surrogate: sg.Surrogate, features: sg.SurrogateFeatures, targets: Targets,
                    deleted: np.ndarray, owner: np.ndarray, *,
                    chunk_rows: int = 1 << 16) -> np.ndarray:
  """float[C]: g(u, D_c, i) of every deletion D_c = deleted[c] for target owner[c], scored in
  fixed-size chunks of `chunk_rows` rows (the last padded to a bucket: few compiles).

  Args:
    surrogate: the fitted surrogate.
    features: its features.
    targets: the B targets (u, i).
    deleted: int64[C, e] the deleted items of each row.
    owner: int[C] the target (index into `targets`) of each row.
    chunk_rows: rows per compiled call.
  """
  users, items = targets.users, targets.items
  pair = sg.pair_features(features, users, items)
  values = np.empty(len(deleted))
  for begin in range(0, len(deleted), chunk_rows):
    end = min(begin + chunk_rows, len(deleted))
    width = chunk_rows if end - begin == chunk_rows else _bucket(end - begin)
    rows = np.concatenate([np.arange(begin, end), np.full(width - (end - begin), end - 1)])
    inputs = sg.build_inputs(features, users[owner[rows]], deleted[rows], items[owner[rows]],
                             pair=pair[owner[rows]])
    values[begin:end] = sg.score(surrogate, inputs)[:end - begin]
  return values


def best_candidates_batched(surrogate: sg.Surrogate, features: sg.SurrogateFeatures,
                            train: Interactions, targets: Targets, *, size: int,
                            max_candidates: int, seed: int,
                            chunk_rows: int = 1 << 16) -> list[SearchResult]:
  """`search` (keep=1) for every target at once: every pair's candidates (the same ones
  `search` draws) are concatenated and scored in fixed-size chunks of `chunk_rows` rows, then
  each pair keeps its best. Each result's `seconds` is the batch's wall time per pair."""
  start = time.perf_counter()
  users = targets.users
  candidates = []
  for user in users:
    history = train.history_items(int(user))
    if len(history) < size:
      raise ValueError(f"user {user} has {len(history)} training items, fewer than e={size}; "
                       "skip users with short histories")
    candidates.append(candidate_subsets(history, size, max_candidates, seed + int(user)))
  counts = np.asarray([len(c) for c in candidates])
  every = np.concatenate(candidates)
  owner = np.repeat(np.arange(len(users)), counts)
  values = score_in_chunks(surrogate, features, targets, every, owner, chunk_rows=chunk_rows)
  offsets = np.concatenate([[0], np.cumsum(counts)])
  best = [int(offsets[k] + np.argmax(values[offsets[k]:offsets[k + 1]]))
          for k in range(len(users))]
  seconds = (time.perf_counter() - start) / max(len(users), 1)
  return [SearchResult(every[b][None], values[b:b + 1], int(c), seconds)
          for b, c in zip(best, counts)]


@dataclasses.dataclass(frozen=True)
class SurrogateSearch:
  """Yao et al.'s surrogate explainer: fit g (eq. 7) on simulated retrains, search eq. 9.

  The surrogate is fitted once per context (cached) on `ctx.simulation`; without one it
  simulates `simulation_users` x `simulation_subsets` retrains first (Algorithm 2, under
  `ctx.spec`). Explanations are the best of up to `max_candidates` e-subsets.

  Attributes:
    surrogate: a `cfjax.explain.surrogate.SPECS` key, e.g. "lasso_reg"; also the method name.
    e: explanation size (3 in Yao et al.).
    max_candidates: candidate subsets searched per target (100,000 in the paper).
    seed: seed of the candidate draws (each user's draw adds its id).
    batched: score every target's candidates in shared chunks (same choice) instead of one
      target at a time (the paper's setting, and the default).
    fit: the `FitOptions`.
    simulation_users, simulation_subsets, simulation_top_n, heldout_fraction: the on-demand
      simulation (users x deletions, the top-N items recorded, the share held out).
  """

  surrogate: str = "lasso_reg"
  e: int = 3
  max_candidates: int = 100_000
  seed: int = 0
  batched: bool = False
  fit: sg.FitOptions = sg.FitOptions()
  simulation_users: int = 32
  simulation_subsets: int = 32
  simulation_top_n: int = 20
  heldout_fraction: float = 0.2
  requires = ("row_losses", "user_embeddings", "item_embeddings")
  cost: ClassVar[str] = "simulating"

  def __post_init__(self):
    if self.surrogate not in sg.SPECS:
      raise ValueError(f"unknown surrogate {self.surrogate!r}; choose one of "
                       f"{sorted(sg.SPECS)}")
    check_int(self.e, f"{self.surrogate}: e", minimum=1)
    check_int(self.max_candidates, f"{self.surrogate}: max_candidates", minimum=1)
    check_number(self.heldout_fraction, f"{self.surrogate}: heldout_fraction", 0, 1)

  @property
  def name(self) -> str:
    return self.surrogate

  def simulated(self, ctx: ExplainContext) -> sg.Simulated:
    """`ctx.simulation`, or one simulated now under `ctx.spec` (cached on the context)."""
    if ctx.simulation is not None:
      return ctx.simulation
    settings = (self.simulation_users, self.simulation_subsets, self.simulation_top_n,
                int(self.e), self.heldout_fraction, self.fit.seed)
    return ctx.cached(("simulated",) + settings,
                      lambda: sg.simulate_for(ctx, users=self.simulation_users,
                                              subsets=self.simulation_subsets, size=int(self.e),
                                              heldout_fraction=self.heldout_fraction,
                                              seed=self.fit.seed,
                                              top_n=self.simulation_top_n))

  def fitted(self, ctx: ExplainContext) -> tuple[sg.Surrogate, sg.SurrogateFeatures]:
    """The surrogate fitted on the context's simulation, and the features it reads (cached)."""
    if self.surrogate not in sg.SPECS:
      raise ValueError(f"unknown surrogate {self.surrogate!r}; choose one of "
                       f"{sorted(sg.SPECS)}")
    features = ctx.cached("surrogate_features",
                          lambda: sg.make_features(ctx.model, ctx.params, ctx.train))
    simulated = self.simulated(ctx)
    surrogate = ctx.cached(("surrogate", self.surrogate, self.fit, id(simulated)),
                           lambda: sg.fit_surrogate(self.surrogate, features, simulated.data,
                                                    simulated.fit_users, self.fit))
    return surrogate, features

  def ranked(self, ctx: ExplainContext, targets: Targets, keep: int) -> list[SearchResult]:
    """The `keep` best candidates of every target by surrogate score (eq. 9)."""
    surrogate, features = self.fitted(ctx)
    if self.batched and keep == 1:
      return best_candidates_batched(surrogate, features, ctx.train, targets, size=int(self.e),
                                     max_candidates=self.max_candidates, seed=self.seed)
    return [search(surrogate, features, ctx.train, user, item, size=int(self.e),
                   max_candidates=self.max_candidates, keep=keep, seed=self.seed)
            for user, item in targets]

  def attributions(self, ctx: ExplainContext, targets: Targets) -> list[dict[int, float]]:
    """[B] {history item d: g(u, {d}, i)}, the surrogate's predicted effect of deleting d alone.

    Regressors (eq. 3) predict the normalised drop of the target below the item now at its
    rank (for a top-1 target: its normalised margin decrease); lasso_rank the rank change
    (eq. 11), lasso_cross eq. 12, classifiers the log-odds that the target moves down (eq. 4):
    each increases with how far the deletion pushes the target down. Every target's
    single-item deletions are scored in one batched call (`score_in_chunks`), with the
    surrogate fitted once per context as for `explain`.
    """
    ctx.check_targets(targets)
    surrogate, features = self.fitted(ctx)
    histories = [ctx.train.history_items(user).astype(np.int64) for user, _ in targets]
    owner = np.repeat(np.arange(len(targets)), [len(h) for h in histories])
    values = score_in_chunks(surrogate, features, targets, np.concatenate(histories)[:, None],
                             owner)
    offsets = np.concatenate([[0], np.cumsum([len(h) for h in histories])])
    return [dict(zip(h.tolist(), values[offsets[b]:offsets[b + 1]].tolist()))
            for b, h in enumerate(histories)]

  def explain(self, ctx: ExplainContext, targets: Targets) -> list[Explanation]:
    """[B] records; extra holds the surrogate's score, the number of candidates and the
    seconds per target."""
    ctx.check_targets(targets, min_history=int(self.e), reason=f"e={self.e} items are deleted")
    results = self.ranked(ctx, targets, keep=1)
    return [Explanation(user, item, tuple(int(i) for i in result.subsets[0]), method=self.name,
                        extra={"surrogate_score": float(result.scores[0]),
                               "candidates": result.num_candidates, "seconds": result.seconds,
                               **({"batched": True} if self.batched else {})})
            for (user, item), result in zip(targets, results)]


for _name in sg.SPECS:
  register(_name, functools.partial(SurrogateSearch, surrogate=_name))
