"""Generating explanations with a surrogate: the subset search of Yao et al. (eq. 9).

E*_{u,i} = argmax_{E subset I_u, |E| = e} g(u, E, i): sample up to `max_candidates` distinct
e-subsets of the user's history (all of them when there are fewer), score every candidate in
one batched surrogate call and keep the best (or the best few, in order, for `verified`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Sequence

import numpy as np

from cfjax.data.interactions import Interactions
from cfjax.evaluate.records import ExplanationRecord
from cfjax.explain import surrogate as sg
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


def score_candidates(surrogate: sg.Surrogate, context: sg.RecommenderContext, user: int,
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


def search(surrogate: sg.Surrogate, context: sg.RecommenderContext, train: Interactions,
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


def explain(surrogate: sg.Surrogate, context: sg.RecommenderContext, train: Interactions,
            users: Sequence[int], items: Sequence[int], *, size: int = 3,
            max_candidates: int = 100_000, seed: int = 0,
            method: str | None = None) -> list[ExplanationRecord]:
  """Surrogate explanations (eq. 9) of each (user, item), method = the surrogate's name."""
  records = []
  for user, item in zip(users, items):
    result = search(surrogate, context, train, int(user), int(item), size=size,
                    max_candidates=max_candidates, seed=seed)
    records.append(ExplanationRecord(
        int(user), int(item), tuple(int(i) for i in result.subsets[0]),
        method=method or surrogate.name,
        extra={"surrogate_score": float(result.scores[0]),
               "candidates": result.num_candidates, "seconds": result.seconds}))
  return records


def explain_batched(surrogate: sg.Surrogate, context: sg.RecommenderContext,
                    train: Interactions, users: Sequence[int], items: Sequence[int], *,
                    size: int = 3, max_candidates: int = 100_000, seed: int = 0,
                    method: str | None = None,
                    chunk_rows: int = 1 << 16) -> list[ExplanationRecord]:
  """`explain` for many (user, item) pairs at once: every pair's candidates (the same ones
  `search` draws) are concatenated and scored in fixed-size chunks of `chunk_rows` rows, then
  each pair keeps its best. extra["seconds"] is the batch's wall time per pair."""
  start = time.perf_counter()
  users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
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
  pair = sg.pair_features(context, users, items)
  values = np.empty(len(every))
  for begin in range(0, len(every), chunk_rows):
    end = min(begin + chunk_rows, len(every))
    width = chunk_rows if end - begin == chunk_rows else _bucket(end - begin)
    rows = np.concatenate([np.arange(begin, end), np.full(width - (end - begin), end - 1)])
    inputs = sg.build_inputs(context, users[owner[rows]], every[rows], items[owner[rows]],
                             pair=pair[owner[rows]])
    values[begin:end] = sg.score(surrogate, inputs)[:end - begin]
  offsets = np.concatenate([[0], np.cumsum(counts)])
  best = [int(offsets[k] + np.argmax(values[offsets[k]:offsets[k + 1]]))
          for k in range(len(users))]
  seconds = (time.perf_counter() - start) / max(len(users), 1)
  return [ExplanationRecord(int(u), int(i), tuple(int(x) for x in every[b]),
                            method=method or surrogate.name,
                            extra={"surrogate_score": float(values[b]), "candidates": int(c),
                                   "seconds": seconds, "batched": True})
          for u, i, b, c in zip(users, items, best, counts)]
