"""KaffesCE's best-first search on hand-built linear scorers whose answers are known."""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data.interactions import Interactions
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.explain.kaffes import kaffes_explain
from cfjax.models import Recommender
from cfjax.rank import rank_of

ITEMS = 6
TARGET, RIVAL = 4, 5  # the explained item and the constant-score competitor


def linear_score(params, x):
  return x @ params["w"] + params["b"]


def scorer(weights, rival: float, base: float = 0.0):
  """Item 4 scores base + sum_j weights[j] * x_j, item 5 the constant `rival`, the others 0."""
  w = np.zeros((ITEMS, ITEMS), np.float32)
  w[:len(weights), TARGET] = weights
  b = np.zeros(ITEMS, np.float32)
  b[RIVAL], b[TARGET] = rival, base
  return {"w": jnp.asarray(w), "b": jnp.asarray(b)}


X = np.array([1, 1, 1, 0, 0, 0], np.float32)  # the user's items: 0, 1, 2


def out_of_top_k(params, removed, k):
  row = X.copy()
  row[list(removed)] = 0
  return rank_of(np.asarray(linear_score(params, row)), row > 0, TARGET) > k


def smallest_valid_size(params, k):
  """Brute force over every subset of the history."""
  return min(len(s) for r in range(1, 4) for s in itertools.combinations(range(3), r)
             if out_of_top_k(params, s, k))


def test_a_sufficient_single_item_is_returned_after_one_expansion():
  params = scorer([1.0, 0.2, 0.1], rival=0.9)  # 1.3 > 0.9; without item 0: 0.3
  found, info = kaffes_explain(linear_score, params, X, TARGET, 1)
  assert found == (0,)
  assert info == {"expansions": 1, "evaluations": 3}  # the root's 3 children


def test_two_items_needed_gives_the_lowest_heuristic_pair():
  # 1.3 vs 0.65: no single removal is enough (0.7, 0.7, 1.2 > 0.65); {0, 1} leaves 0.1 and
  # {0, 2} 0.6: both valid with the same heuristic, so the first generated child, {0, 1}.
  params = scorer([0.6, 0.6, 0.1], rival=0.65)
  assert smallest_valid_size(params, 1) == 2
  found, info = kaffes_explain(linear_score, params, X, TARGET, 1)
  assert found == (0, 1)
  assert out_of_top_k(params, found, 1)
  assert info["expansions"] == 2  # the root, then {0} (the lowest heuristic of its children)


def test_budget_exhausted_returns_nothing():
  params = scorer([0.6, 0.6, 0.1], rival=0.65)
  found, info = kaffes_explain(linear_score, params, X, TARGET, 1, max_expansions=1)
  assert found == () and info["expansions"] == 1


def test_no_valid_set_returns_nothing_after_the_whole_lattice():
  params = scorer([0.0, 0.0, 0.0], rival=0.5, base=1.0)  # item 4: always 1.0 > 0.5, first
  found, info = kaffes_explain(linear_score, params, X, TARGET, 1)
  assert found == ()
  assert info["expansions"] == 8  # every subset of the 3 items popped once


def test_bad_settings_are_one_line_errors():
  params = scorer([1.0, 0.2, 0.1], rival=0.9)
  with pytest.raises(ValueError, match="length_weight"):
    kaffes_explain(linear_score, params, X, TARGET, 1, length_weight=1.5)
  with pytest.raises(ValueError, match="max_expansions"):
    kaffes_explain(linear_score, params, X, TARGET, 1, max_expansions=0)


def test_registered_explainer_runs_the_search_per_target():
  params = scorer([0.6, 0.6, 0.1], rival=0.65)
  inputs = jnp.asarray(np.stack([X, X]))
  model = Recommender(name="linear", num_users=2, num_items=ITEMS, init=lambda key: params,
                      predict=lambda p, users, items: linear_score(p, inputs[users])[
                          jnp.arange(users.shape[0]), items],
                      scores=lambda p, users: linear_score(p, inputs[users]),
                      score_rows=linear_score)
  ctx = ExplainContext(model=model, params=params, train=Interactions.from_dense(inputs))
  records = run_explainer(get_explainer("kaffes", k=1, max_expansions=1), ctx,
                          Targets([0, 1], [TARGET, TARGET]))
  assert [r.deleted_items for r in records] == [(), ()]  # one expansion is not enough
  records = run_explainer(get_explainer("kaffes", k=1), ctx, Targets([0, 1], [TARGET, TARGET]))
  assert [r.deleted_items for r in records] == [(0, 1), (0, 1)]
  assert records[0].method == "kaffes" and records[0].extra["expansions"] == 2
