"""Exact minimal explanations (`exhaustive`), certified explanations (`certified`) and the
minimality comparison, on a model whose minimal explanation is planted by construction."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cfjax import rank
from cfjax.data.interactions import Interactions
from cfjax.evaluate.minimality import minimality
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.explain.certified import best_subsets
from cfjax.explain.exhaustive import subset_count
from cfjax.models import Recommender
from cfjax.records import Explanation
from cfjax.train import RetrainProtocol, to_train_data, train_original
from cfjax.train.counterfactual import deletion_rows, retrain_user_scores

# items 0-3 are category A, 4-7 category B; f(u, i) = p[u, category(i)] - 0.01 i, and p[u, c]
# is fitted to u's ratings in category c (per-row L2): its mean / (1 + l2), or 0 without any.
CATEGORY = np.array([0, 0, 0, 0, 1, 1, 1, 1])
L2 = 0.1


def planted():
  """User 0 rated items 0, 1 (A) with 5 and 4, 5, 6 (B) with 4: its top-1 is item 2 (A).
  Deleting ONE of items 0, 1 keeps the mean of A at 5; deleting both leaves p[0, A] at its
  init 0, below B: the unique minimal explanation is {0, 1}."""
  dense = np.zeros((2, 8), np.float32)
  dense[0, [0, 1, 4, 5, 6]] = [5, 5, 4, 4, 4]
  dense[1, [2, 3, 7]] = [3, 1, 2]
  data = Interactions.from_dense(dense, name="planted")
  category, offset = jnp.asarray(CATEGORY), -0.01 * jnp.arange(8.0)

  def predict(params, users, items):
    return params["p"][users, category[items]] + offset[items]

  def row_losses(params, users, items, ratings):
    return (jnp.square(ratings - predict(params, users, items))
            + L2 * params["p"][users, category[items]] ** 2)

  model = Recommender(name="planted", num_users=2, num_items=8,
                      init=lambda key: {"p": jnp.zeros((2, 2))}, predict=predict,
                      row_losses=row_losses, optimizer=optax.adam(0.1))
  spec = RetrainProtocol(steps=300, batch_size=None, seeds=(0,))
  original = train_original(model, to_train_data(data),
                            RetrainProtocol(steps=spec.steps, seeds=(0,)))
  ctx = ExplainContext.from_original(model, data, original, spec)
  return ctx, Targets([0], [2])


def test_exhaustive_finds_the_planted_minimal_set_and_stops_at_its_size():
  ctx, targets = planted()
  assert ctx.top_k([0], 1)[0][0, 0] == 2
  [record] = run_explainer(get_explainer("exhaustive", max_size=3), ctx, targets)
  assert record.deleted_items == (0, 1)
  assert record.extra["minimal_size"] == 2 and record.extra["minimal_sets"] == [[0, 1]]
  assert record.extra["searched_up_to"] == 2 and not record.extra["control_moved"]
  assert record.extra["retrains"] == 1 + 5 + 10  # the control, 5 singles, 10 pairs


def test_exhaustive_refuses_too_many_subsets_in_one_line():
  ctx, targets = planted()
  assert subset_count(5, 3) == 25
  with pytest.raises(ValueError, match=r"user 0 has 5 training rows, so 25 subsets of size "
                                       r"1..3, more than max_subsets=24"):
    get_explainer("exhaustive", max_size=3, max_subsets=24).explain(ctx, targets)


def test_certified_returns_the_smallest_set_retraining_confirms_and_what_it_spent():
  ctx, targets = planted()
  # metagrad's attributions of this model are all 0 (p[0, A] is a mean of equal ratings):
  # ties go to history order, so the beam at size 2 holds {0, 1} first.
  explainer = get_explainer("certified", proposer="metagrad", beam=2, budget=11,
                            seed_offset=2)
  with pytest.warns(UserWarning, match="constant step size"):
    [record] = run_explainer(explainer, ctx, targets)
  assert record.deleted_items == (0, 1) and record.extra["certified"]
  assert record.extra["retrains"] == 1 + 2 + 2  # the control, 2 singles, 2 pairs
  after = retrain_user_scores(ctx.model, ctx.train, [(0, deletion_rows(ctx.train, 0, [0, 1]))],
                              RetrainProtocol(steps=300, seeds=[record.extra["check_seed"]],
                                              chunk_size=1),
                              progress=False)
  assert rank.rank_of(after, rank.seen_rows(ctx.train, [0]), [2])[0] > 1
  short = dataclasses.replace(explainer, max_size=1, fallback_e=3)
  [uncertified] = run_explainer(short, ctx, targets)  # the attributions are cached on ctx
  assert not uncertified.extra["certified"] and uncertified.extra["retrains"] == 3
  assert len(uncertified.deleted_items) == 3


def test_certified_options_are_checked():
  with pytest.raises(ValueError, match="proposer 'none' has no attributions"):
    get_explainer("certified", proposer="none")
  with pytest.raises(ValueError, match="max_size=1 is below min_size=2"):
    get_explainer("certified", min_size=2, max_size=1)


def test_best_subsets_are_the_top_sums():
  scores = np.array([0.1, 0.9, 0.5, 0.4, -1.0])
  assert best_subsets(scores, 1, 2) == [(1,), (2,)]
  assert best_subsets(scores, 2, 3) == [(1, 2), (1, 3), (1, 0)]
  assert best_subsets(scores, 6, 2) == []
  # the beam equals brute force over all subsets
  import itertools
  rng = np.random.default_rng(0)
  values = rng.normal(size=7)
  brute = sorted(itertools.combinations(range(7), 3), key=lambda s: -values[list(s)].sum())[:4]
  got = best_subsets(values, 3, 4)
  assert [sorted(s) for s in got] == [sorted(s) for s in brute]


def test_minimality_counts_minimal_sets_excess_and_misses():
  exact = [Explanation(0, 2, (0, 1), method="exhaustive",
                       extra={"minimal_sets": [[0, 1], [0, 4]]}),
           Explanation(1, 3, (), method="exhaustive", extra={"minimal_sets": []})]
  records = [Explanation(0, 2, (1, 0), method="a"), Explanation(0, 2, (0, 1, 5), method="b"),
             Explanation(0, 2, (), method="c"), Explanation(1, 3, (7,), method="a")]
  rows = {r["method"]: r for r in minimality(records, exact)}
  assert rows["a"]["targets"] == 1 and rows["a"]["minimal"] == 1.0  # target 1 has no truth
  assert rows["b"]["minimal"] == 0.0 and rows["b"]["mean_excess"] == 1.0
  assert rows["c"]["not_found"] == 1 and rows["c"]["mean_excess"] is None
  with pytest.raises(ValueError, match="minimal_sets"):
    minimality(records, records)
