"""LCER's evaluation metrics (Wen et al., section 4.1): validity, length, PS, PN and F_NS.

For N_t test users with K recommendations each and counterfactual sets C_{u,i}:

  Val    = sum 1[C != {}] / (N_t * K)
  Len    = sum |C| / sum 1[C != {}]
  PS     = sum 1[i in R*_u] / sum 1[C != {}]       (eq. 13; x* = e * x_u: only C kept)
  PN     = sum 1[i not in R~_u] / sum 1[C != {}]   (eq. 14; x~ = (1 - e) * x_u: C removed)
  F_NS   = 2 * PS * PN / (PS + PN)

R*_u and R~_u are the top-K lists of the recommender fed x* and x~, ranking the items that are
not in the fed row (as the reference code masks `input.nonzero()`), so removed items may come
back into R~_u. All ratios count only pairs with a non-empty C.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from cfjax.records import Explanation as ExplanationRecord
from cfjax.rank import in_top_k_jnp


def sufficiency_necessity(score_fn: Callable, params, x_f, removed, items, k: int, *,
                          targets_per_batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
  """Per-pair sufficiency (i in R*_u) and necessity (i not in R~_u) (Wen et al., eqs. 13-14).

  Args:
    score_fn: (params, x[B, I]) -> scores[B, I], the recommender g.
    params: its params.
    x_f: float[P, I] factual rows of the pairs' users.
    removed: bool[P, I] the counterfactual sets (e).
    items: int[P] the recommended items.
    k: list length K.
    targets_per_batch: pairs per scoring call.

  Returns:
    (sufficient bool[P], necessary bool[P]) as numpy arrays.

  Raises:
    ValueError: on mismatched shapes.
  """
  x_f, removed, items = np.asarray(x_f, np.float32), np.asarray(removed, bool), np.asarray(items)
  if x_f.shape != removed.shape or x_f.shape[0] != len(items):
    raise ValueError(f"x_f {x_f.shape}, removed {removed.shape}, items {items.shape} must agree "
                     "on [P, I] and P")
  suff, nec = [], []
  step = int(targets_per_batch)
  for s in range(0, len(items), step):
    x = jnp.asarray(x_f[s:s + step])
    e = jnp.asarray(removed[s:s + step], jnp.float32)
    it = jnp.asarray(items[s:s + step])
    x_star, x_tilde = e * x, (1.0 - e) * x
    suff.append(np.asarray(in_top_k_jnp(score_fn(params, x_star), x_star > 0, it, k)))
    nec.append(np.asarray(~in_top_k_jnp(score_fn(params, x_tilde), x_tilde > 0, it, k)))
  return np.concatenate(suff), np.concatenate(nec)


def lcer_metrics(records: Sequence[ExplanationRecord], num_pairs: int, *,
                 report_validity: bool = True) -> dict:
  """Val, Len, PS, PN and F_NS over records (Wen et al., section 4.1).

  Each record with a non-empty `deleted_items` counts as a found CE and must carry
  `extra["sufficient"]` and `extra["necessary"]` (booleans, from `sufficiency_necessity`).

  Args:
    records: one record per explained pair (records with no deleted items are "not found";
      pairs without a record also count as not found).
    num_pairs: N_t * K, the validity denominator.
    report_validity: False for FIA, which is not a CE method (Table 2 shows "-").

  Returns:
    {"validity", "length", "ps", "pn", "f_ns"} as fractions (None when undefined) and
    {"found", "pairs"} counts.

  Raises:
    ValueError: if num_pairs < number of records, or a found record lacks the flags.
  """
  if num_pairs < len(records):
    raise ValueError(f"num_pairs={num_pairs} is smaller than the {len(records)} records; pass "
                     "N_t * K")
  found = [r for r in records if r.deleted_items]
  for r in found:
    if "sufficient" not in r.extra or "necessary" not in r.extra:
      raise ValueError(f"record ({r.user}, {r.item}) lacks extra['sufficient'/'necessary']; "
                       "compute them with sufficiency_necessity")
  n = len(found)
  ps = sum(bool(r.extra["sufficient"]) for r in found) / n if n else None
  pn = sum(bool(r.extra["necessary"]) for r in found) / n if n else None
  f_ns = None
  if ps is not None and pn is not None:
    f_ns = 2 * ps * pn / (ps + pn) if ps + pn > 0 else 0.0
  return {"validity": (n / num_pairs if num_pairs else None) if report_validity else None,
          "length": sum(len(r.deleted_items) for r in found) / n if n else None,
          "ps": ps, "pn": pn, "f_ns": f_ns, "found": n, "pairs": int(num_pairs)}
