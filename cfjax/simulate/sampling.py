"""Deterministic sampling of deletion subsets of a user's history (Algorithm 2, line 6).

Every user's subsets come from their own generator, seeded by (seed, user), so the same
subsets are drawn whatever order users are processed in, and a resumed run draws exactly
what an uninterrupted run would have.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

SUBSET_SALT = 0x5EED  # separates subset draws from other uses of the same seed


def deletion_size(history_length: int, size: int | None, fraction: float | None) -> int:
  """Items per deleted subset: `size` (the paper's 3), or round(fraction * |I_u|) (>= 1)."""
  if (size is None) == (fraction is None):
    raise ValueError("pass exactly one of size= (e.g. 3) or fraction= (e.g. 0.4)")
  chosen = size if size is not None else max(1, int(round(fraction * history_length)))
  if not 1 <= chosen <= history_length:
    raise ValueError(f"a deletion of {chosen} items does not fit a history of "
                     f"{history_length}; lower the size or drop short histories")
  return int(chosen)


def sample_subsets(history: np.ndarray, count: int, size: int,
                   rng: np.random.Generator) -> np.ndarray:
  """Up to `count` DISTINCT `size`-subsets of `history` (sorted rows, int64[C, size]).

  All subsets are returned (in lexicographic order) when there are at most `count`;
  otherwise uniformly random distinct subsets in draw order.
  """
  history = np.sort(np.asarray(history, dtype=np.int64))
  total = math.comb(len(history), size)
  if total <= count:
    return np.asarray(list(itertools.combinations(history, size)), dtype=np.int64).reshape(
        -1, size)
  chosen, seen = [], set()
  # Rejection of rows with a repeated position accepts ~exp(-size^2 / 2|I_u|) of draws: fine
  # for e = 3, hopeless for the ablation's 40 % deletions (0.4 * 200 items: ~1e-14), which
  # draw each row as the first `size` of a random permutation instead. The rule depends
  # only on (|I_u|, size), so e = 3 draws (and stores made with them) are unchanged.
  draw_fn = _permutation_positions if size * size > 4 * len(history) else _draw_positions
  while len(chosen) < count:
    draw = draw_fn(rng, len(history), size, 2 * (count - len(chosen)))
    for row in map(tuple, history[draw]):
      if row not in seen:
        seen.add(row)
        chosen.append(row)
        if len(chosen) == count:
          break
  return np.asarray(chosen, dtype=np.int64)


def _draw_positions(rng: np.random.Generator, length: int, size: int, count: int) -> np.ndarray:
  """int[count, size] sorted distinct positions in [0, length), uniformly per row."""
  positions = rng.integers(0, length, (count, size))
  positions.sort(axis=1)
  bad = (np.diff(positions, axis=1) == 0).any(axis=1) if size > 1 else np.zeros(count, bool)
  while bad.any():
    redraw = rng.integers(0, length, (int(bad.sum()), size))
    redraw.sort(axis=1)
    positions[bad] = redraw
    bad = (np.diff(positions, axis=1) == 0).any(axis=1) if size > 1 else np.zeros(count, bool)
  return positions


def _permutation_positions(rng: np.random.Generator, length: int, size: int,
                           count: int) -> np.ndarray:
  """int[count, size] sorted distinct positions in [0, length): first `size` of a random
  permutation per row (no rejection)."""
  return np.sort(np.argsort(rng.random((count, length)), axis=1)[:, :size], axis=1)


def user_subsets(history: np.ndarray, user: int, *, count: int, seed: int,
                 size: int | None = 3, fraction: float | None = None) -> np.ndarray:
  """The deletion subsets D_u of one user: int64[C, e] item ids, drawn from (seed, user)."""
  rng = np.random.default_rng([SUBSET_SALT, int(seed), int(user)])
  chosen = deletion_size(len(history), size, fraction)
  return sample_subsets(history, count, chosen, rng)
