"""Verifying counterfactual explanations by retraining (Yao et al., eq. 2; ACCENT's CF test).

An explanation (u, i, deleted items E) is valid at K if, after deleting u's rows with the
items in E from the training data and retraining, i is no longer in u's top-K unseen items.
All records are retrained in ONE batched engine call; identical models (same user and same
deleted rows, e.g. every "delete nothing" record) are trained once.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cfjax import rank
from cfjax.data.interactions import Interactions
from cfjax.evaluate.significance import wilson_interval
from cfjax.data.raw_ids import all_with_raw_ids
from cfjax.models.base import Recommender, retrainable
from cfjax.records import Explanation, VerifiedRecord
from cfjax.train import RetrainProtocol, TrainState
from cfjax.train.counterfactual import deletion_rows, retrain_user_scores
from cfjax.util import check_int
from cfjax.train.health import check_scores


def _deleted_rows(record: Explanation, train: Interactions, index: int) -> tuple[int, ...]:
  """Training rows of the record's deleted items, sorted; errors name the record."""
  if not 0 <= record.user < train.num_users:
    raise ValueError(f"record {index}: user {record.user} is not in [0, {train.num_users}); "
                     "pass dense user ids of the training data")
  history = set(train.history_items(record.user).tolist())
  for name in ("item", "replacement"):
    value = getattr(record, name)
    if value is not None and (not 0 <= value < train.num_items or value in history):
      raise ValueError(f"record {index}: {name} {value} is not an unseen item of user "
                       f"{record.user}; explanations are about items outside the training history")
  try:
    return deletion_rows(train, record.user, record.deleted_items)
  except ValueError as e:
    raise ValueError(f"record {index}: {e}") from None


def verify(records: Sequence[Explanation], *, model: Recommender, train: Interactions,
           original: TrainState, protocol: RetrainProtocol, ks: Sequence[int] = (1, 3, 5, 10),
           per_seed: bool = False, progress: bool = True) -> list[VerifiedRecord]:
  """Retrains without each explanation's items and checks Yao et al.'s eq. 2 and ACCENT's test.

  One batched `retrain` covers every record plus one control per user (nothing deleted,
  same seeds: the paired baseline; under `warm` it also removes the drift of continued
  training, as FIA does). Scores are averaged over seeds. Ranks are among the items the user
  did not interact with in `train` (deleted items stay excluded). A record is valid at K if
  its item's new rank exceeds K; a replacement "overtook" if its new score exceeds the item's.

  Args:
    records: explanations; `item` and `replacement` must be unseen by `user` in `train`, and
      `deleted_items` must come from the user's training history.
    model: the recommender.
    train: the training interactions the original was trained on (same row order).
    original: the trained original; the warm protocol continues from it, and every record
      also reports the item's rank under its parameters (`unretrained_rank`).
    protocol: how to retrain (`RetrainProtocol`): the original's own protocol
      (`protocol.paired()`), or one derived from it (`with_seed_offsets`, `continued`,
      `converging`). With `until`, each record says what its model and control reached
      (`VerifiedRecord.convergence`) and its protocol is "<kind>-converged". Kind "rescore"
      re-scores the edited input row instead (`rescore`, with `original.params`).
    ks: the list lengths K to report validity at.
    per_seed: one outcome per seed instead of scores averaged over the seeds: each seed is
      retrained in its own engine call (one seed per compiled program, so the paired seed's
      controls reproduce an original from `train_original_exact` bitwise), and the result is
      seed-major: every record under `protocol.seeds[0]`, then under the next seed.
    progress: show the engine's progress bar.

  Returns:
    One `VerifiedRecord` per record, in order (per_seed: per seed and record, seed-major;
    `VerifiedRecord.seeds` names the seed).

  Raises:
    ValueError: on an invalid record (the message names the record), K or steps < 1.
    DivergedError: if retraining gave non-finite or exploding scores.
  """
  if not isinstance(protocol, RetrainProtocol):
    raise ValueError(f"protocol must be a cfjax.train.RetrainProtocol, got "
                     f"{type(protocol).__name__}; pass the original's protocol, e.g. "
                     "spec.paired() or spec.continued(steps)")
  if protocol.kind == "rescore":
    return rescore(records, model=model, train=train, ks=ks,
                   params=getattr(original, "params", original))
  if per_seed:
    return [verified for seed in protocol.seeds
            for verified in verify(records, model=model, train=train, original=original,
                                   protocol=protocol.with_seeds([seed]), ks=ks,
                                   progress=progress)]
  records = _checked(records, train, ks)
  if not records:
    return []
  if not retrainable(model):
    raise ValueError(f"model {model.name!r} has no row_losses: it is not trained on rows and "
                     "cannot be retrained; verify its explanations with "
                     "cfjax.evaluate.rescore (the input edit is its counterfactual)")
  if protocol.until is None:  # 0 steps would judge the init, not a retrained model
    check_int(protocol.steps, "steps", minimum=1)
  deletions = [(r.user, _deleted_rows(r, train, n)) for n, r in enumerate(records)]
  records = all_with_raw_ids(records, train)  # raw ids and titles in every verified record
  controls = [(r.user, ()) for r in records]  # per user: nothing deleted, same seeds
  scores = retrain_user_scores(model, train, deletions + controls, protocol, original=original,
                               progress=progress, description="verifying",
                               return_converged=protocol.until is not None)
  convergence = None
  if protocol.until is not None:
    scores, reached = scores
    convergence = _convergence(reached, len(records))
  new, base = scores[:len(records)], scores[len(records):]
  users = np.asarray([r.user for r in records], dtype=np.int32)
  distinct, position = np.unique(users, return_inverse=True)
  unretrained = rank.scores_of(model, original.params, distinct)[position.ravel()]
  check_scores(scores, unretrained,
               what=f"verification ({protocol.name}, {protocol.steps} steps)")
  seen = rank.seen_rows(train, users)
  items = np.asarray([r.item for r in records])
  new_rank, base_rank, unretrained_rank = (
      np.atleast_1d(rank.rank_of(s, seen, items)) for s in (new, base, unretrained))
  return [_verified(r, int(base_rank[n]), int(new_rank[n]), int(unretrained_rank[n]),
                    base[n], new[n], ks, protocol.name, protocol.seeds,
                    None if convergence is None else convergence[n])
          for n, r in enumerate(records)]


def _convergence(reached: dict, n: int) -> list[dict]:
  """Per record, what its model (first n of `reached`) and its control (the next n) reached."""
  return [{"grad_norm": float(reached["grad_norm"][m]), "steps": int(reached["steps"][m]),
           "control_grad_norm": float(reached["grad_norm"][n + m]),
           "control_steps": int(reached["steps"][n + m])} for m in range(n)]


def _checked(records, train: Interactions, ks: Sequence[int]) -> list[Explanation]:
  """The records as a list, after one-line errors for non-records and impossible K."""
  records = list(records)
  for n, record in enumerate(records):
    if not isinstance(record, Explanation):
      raise ValueError(f"record {n} is a {type(record).__name__}, not a cfjax Explanation; "
                       "pass the records explainers return")
  for k in ks:
    if not 1 <= check_int(k, "K") <= train.num_items:
      raise ValueError(f"K={k} must lie in [1, {train.num_items}]; pass smaller ks")
  return records


def rescore(records: Sequence[Explanation], *, model: Recommender, train: Interactions,
            params, ks: Sequence[int] = (1, 3, 5, 10)) -> list[VerifiedRecord]:
  """Verifies explanations of an AMORTISED model by re-scoring the edited input row.

  For a model whose recommendations are a function of the user's input row x_u (Mult-VAE,
  through its `score_rows` hook), removing the deleted items from x_u and scoring again IS
  the counterfactual (Wen et al., sec. 3.1): no retraining, no seeds. The baseline is the
  unedited row; ranks exclude the items of the unedited row, as `verify`'s do.

  Args:
    records: explanations of users of `train` (the model's input rows).
    model: the amortised recommender (a `score_rows` hook).
    train: its input rows as interactions (`Interactions.from_dense`).
    params: its parameters.
    ks: the list lengths K to report validity at.

  Returns:
    One `VerifiedRecord` per record (protocol "rescore", seeds ()).
  """
  records = _checked(records, train, ks)
  if not records:
    return []
  score_rows = model.require("score_rows", "verification by re-scoring")
  deleted = [_deleted_rows(r, train, n) for n, r in enumerate(records)]
  records = all_with_raw_ids(records, train)
  users = np.asarray([r.user for r in records], dtype=np.int64)
  rows = np.zeros((len(records), train.num_items), np.float32)
  for n, user in enumerate(users):
    history = train.history_rows(int(user))
    rows[n, train.item[history]] = train.rating[history]
  edited = rows.copy()
  for n, removed in enumerate(deleted):
    edited[n, train.item[list(removed)]] = 0.0
  base = np.asarray(score_rows(params, rows), np.float64)
  new = np.asarray(score_rows(params, edited), np.float64)
  check_scores(new, base, what="re-scoring")
  seen = rows > 0
  items = np.asarray([r.item for r in records])
  new_rank, base_rank = (np.atleast_1d(rank.rank_of(s, seen, items)) for s in (new, base))
  return [_verified(r, int(base_rank[n]), int(new_rank[n]), int(base_rank[n]), base[n], new[n],
                    ks, "rescore", ()) for n, r in enumerate(records)]


def _verified(record, base_rank, new_rank, unretrained_rank, base_scores, new_scores, ks,
              protocol, seeds, convergence=None) -> VerifiedRecord:
  """Assembles one `VerifiedRecord` from its ranks and seed-averaged score rows."""
  replacement_score = (None if record.replacement is None
                       else float(new_scores[record.replacement]))
  item_score = float(new_scores[record.item])
  return VerifiedRecord(
      explanation=record, original_rank=base_rank, new_rank=new_rank,
      left_top_k={int(k): bool(new_rank > k) for k in ks},
      item_score_original=float(base_scores[record.item]), item_score_new=item_score,
      replacement_score_new=replacement_score,
      replacement_overtook=None if replacement_score is None else replacement_score > item_score,
      protocol=protocol, seeds=tuple(int(s) for s in seeds), unretrained_rank=unretrained_rank,
      replacement_score_original=(None if record.replacement is None
                                  else float(base_scores[record.replacement])),
      convergence=convergence)


def summarize(verified: Sequence[VerifiedRecord], ks: Sequence[int] = (1, 3, 5, 10)) -> dict:
  """Validity per K (Yao et al., eq. 2) and ACCENT's CF percentage over verified records.

  Args:
    verified: records from `verify` (every K in `ks` must have been verified).
    ks: the list lengths K.

  Returns:
    {"count", "users", "validity": {K: share of records whose item left the top-K},
      "validity_ci": {K: [low, high] Wilson 95% interval of that share},
      "cf_percentage": share of replacement records whose replacement overtook the item (None
      without replacement records), "replacement_count", "mean_original_rank", "mean_new_rank"}.

  Raises:
    ValueError: if a record lacks one of the ks.
  """
  verified = list(verified)
  for k in ks:
    if any(k not in v.left_top_k for v in verified):
      raise ValueError(f"K={k} was not verified for every record; pass it in verify(ks=...)")
  with_replacement = [v.replacement_overtook for v in verified if v.replacement_overtook is not None]
  mean = lambda values: float(np.mean(values)) if len(values) else None
  left = {int(k): [v.left_top_k[k] for v in verified] for k in ks}
  return {
      "count": len(verified),
      "users": len({v.explanation.user for v in verified}),
      "validity": {k: mean(values) for k, values in left.items()},
      "validity_ci": {k: list(wilson_interval(sum(values), len(values)))
                      for k, values in left.items()},
      "cf_percentage": mean(with_replacement),
      "replacement_count": len(with_replacement),
      "mean_original_rank": mean([v.original_rank for v in verified]),
      "mean_new_rank": mean([v.new_rank for v in verified]),
  }


def summarize_by_method(verified: Sequence[VerifiedRecord],
                        ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, dict]:
  """`summarize` per explanation method, in order of first appearance; with a noise-floor
  method ("none": nothing deleted, same protocol) also each method's validity *net of the
  noise floor* (`net_validity`)."""
  methods = dict.fromkeys(v.explanation.method for v in verified)
  summaries = {m: summarize([v for v in verified if v.explanation.method == m], ks)
               for m in methods}
  if "none" in methods:
    for method, summary in summaries.items():
      summary.update(net_validity([v for v in verified if v.explanation.method == method],
                                  [v for v in verified if v.explanation.method == "none"], ks))
  return summaries


def net_validity(verified: Sequence[VerifiedRecord], controls: Sequence[VerifiedRecord],
                 ks: Sequence[int]) -> dict:
  """Validity net of the noise floor: a record counts only if its item left the top-K AND
  the control of its target (nothing deleted, the same protocol and seeds) kept it there, so
  deleting nothing can never count as an explanation.

    net@K = #{records r: r left top-K and control(user_r, item_r) stayed in top-K} / #records

  Args:
    verified: one method's verified records.
    controls: the "none" records (one per target; a target without one never counts).
    ks: the list lengths K.

  Returns:
    {"net_validity": {K: share}, "net_validity_ci": {K: [low, high] Wilson 95%}}.
  """
  kept = {}
  for control in controls:
    key = (control.explanation.user, control.explanation.item)
    for k in ks:  # a target whose control left the list at any verification never counts
      kept[key, k] = kept.get((key, k), True) and not control.left_top_k[k]
  net, intervals = {}, {}
  for k in ks:
    counted = [bool(v.left_top_k[k]) and kept.get(((v.explanation.user, v.explanation.item), k),
                                                  False) for v in verified]
    net[int(k)] = float(np.mean(counted)) if counted else None
    intervals[int(k)] = list(wilson_interval(sum(counted), len(counted)))
  return {"net_validity": net, "net_validity_ci": intervals}


CONTROLS = ("none", "random")


def noise_floor_warnings(summaries: dict[str, dict], ks: Sequence[int],
                         noise: str = "none") -> list[str]:
  """One line per K at which the noise floor (`noise`: nothing deleted, same protocol) lies
  within the 95% interval of some method's validity: the protocol cannot tell those methods
  from deleting nothing there. Empty without a `noise` row.

  Args:
    summaries: method -> `summarize` output (with "validity" and "validity_ci").
    ks: the K to check.
    noise: the method name of the noise floor.
  """
  if noise not in summaries:
    return []
  lines = []
  for k in ks:
    floor = summaries[noise]["validity"][k]
    swamped = [m for m, s in summaries.items() if m not in CONTROLS and floor is not None
               and s["validity_ci"][k][0] is not None
               and s["validity_ci"][k][0] <= floor <= s["validity_ci"][k][1]]
    if swamped:
      lines.append(f"warning: at K={k} the noise floor ({100 * floor:.0f}%, nothing deleted) "
                   f"lies within the 95% interval of {', '.join(swamped)}: this protocol "
                   "cannot tell them from deleting nothing")
  return lines
