"""Seeded synthetic rating data with a planted low-rank structure."""

from __future__ import annotations

import numpy as np

from cfjax.data.interactions import Interactions


def _check(ok: bool, message: str) -> None:
  if not ok:
    raise ValueError(message)


def make_synthetic(num_users: int = 100, num_items: int = 200, dim: int = 8,
                   density: float = 0.1, seed: int = 0, min_per_user: int = 5,
                   noise: float = 0.5) -> Interactions:
  """Makes a deterministic synthetic explicit-feedback dataset.

  Each user u and item i get latent vectors p_u, q_i ~ N(0, I_dim). User u rates
  max(min_per_user, Binomial(num_items, density)) distinct items drawn uniformly, with
  rating = clip(round(3 + 1.25 * <p_u, q_i> / sqrt(dim) + noise * eps), 1, 5), eps ~ N(0, 1).
  Rows are grouped by user (users in order, items in random order); timestamps increase with
  the row index. The same arguments always give the same arrays.

  Args:
    num_users: number of users U (>= 1).
    num_items: number of items I (>= min_per_user).
    dim: rank of the planted structure (>= 1).
    density: expected fraction of items each user rates, in (0, 1].
    seed: integer seed of the numpy generator.
    min_per_user: minimum number of ratings per user (>= 1).
    noise: standard deviation of the rating noise before rounding (>= 0).

  Returns:
    Interactions named "synthetic" with U users and I items (some items may be unrated),
    titled "Synthetic item <i>".

  Raises:
    ValueError: on an out-of-range argument.
  """
  _check(int(num_users) >= 1, f"num_users={num_users} must be >= 1")
  _check(int(dim) >= 1, f"dim={dim} must be >= 1")
  _check(int(min_per_user) >= 1, f"min_per_user={min_per_user} must be >= 1")
  _check(int(num_items) >= int(min_per_user),
         f"num_items={num_items} must be >= min_per_user={min_per_user}; add items or lower "
         "min_per_user")
  _check(0.0 < float(density) <= 1.0, f"density={density} must lie in (0, 1]")
  _check(float(noise) >= 0.0, f"noise={noise} must be >= 0")
  rng = np.random.default_rng(seed)
  p = rng.standard_normal((num_users, dim))
  q = rng.standard_normal((num_items, dim))
  counts = np.maximum(rng.binomial(num_items, density, size=num_users), min_per_user)
  items = np.concatenate([rng.choice(num_items, size=int(c), replace=False) for c in counts])
  users = np.repeat(np.arange(num_users), counts)
  affinity = np.einsum("nd,nd->n", p[users], q[items]) / np.sqrt(dim)
  raw = 3.0 + 1.25 * affinity + noise * rng.standard_normal(len(users))
  rating = np.clip(np.round(raw), 1.0, 5.0)
  timestamp = 1_000_000_000 + np.arange(len(users), dtype=np.int64) * 60
  return Interactions(
      user=users.astype(np.int32), item=items.astype(np.int32), rating=rating.astype(np.float32),
      num_users=int(num_users), num_items=int(num_items), timestamp=timestamp,
      user_ids=np.arange(num_users, dtype=np.int64), item_ids=np.arange(num_items, dtype=np.int64),
      item_titles=tuple(f"Synthetic item {i}" for i in range(num_items)), name="synthetic")
