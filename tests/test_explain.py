"""Influence explainers: selection rules on hand-made numbers, batching, and input errors."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.explain import (Explanation, accent_select, explain_accent_family,
                           explain_influence_function, fia_influences, fia_select,
                           greedy_gap_fill, pad_histories, pure_fia_select, top_k_lists)
from cfjax.evaluate.records import ExplanationRecord
from cfjax.influence import score_change_on_removal
from cfjax.models import make_ncf
from cfjax.train import to_train_data, train_original

NUM_USERS, K, WIDTH = 100, 3, 32
IF_OPTIONS = dict(e=3, damping=0.1, max_iters=50, history_width=WIDTH, on_fail="ignore")


# ---------------------------------------------------------------- hand-made selection rules
# ACCENT example: scores (rec, c1, c2) = (3.0, 2.5, 2.0); rows z0..z3 plus one padding row
# whose huge influences must be ignored.
SCORES = np.array([3.0, 2.5, 2.0])
I_REC = np.array([0.3, 0.1, 0.4, -0.2, 5.0])
GAP_C1 = np.array([0.3, 0.15, 0.1, -0.2, 5.0])  # gap 0.5: z0, z1, z2 -> 0.2, 0.05, -0.05
GAP_C2 = np.array([0.8, -0.1, 0.7, -0.3, 5.0])  # gap 1.0: z0, z2 -> 0.2, -0.5
INFLUENCE = np.stack([I_REC, I_REC - GAP_C1, I_REC - GAP_C2])
VALID = np.array([True, True, True, True, False])


def test_greedy_gap_fill_by_hand():
  assert greedy_gap_fill(0.5, GAP_C1, VALID) == ((0, 1, 2), pytest.approx(-0.05))
  assert greedy_gap_fill(1.0, GAP_C2, VALID) == ((0, 2), pytest.approx(-0.5))
  # Stops at the first non-positive gap influence (Algorithm 1): z2, z0, then z1 = 0 breaks.
  assert greedy_gap_fill(1.0, [0.3, 0.0, 0.5, -1.0], [True] * 4) == ((2, 0), pytest.approx(0.2))


def test_accent_select_by_hand():
  selection = accent_select(SCORES, INFLUENCE, VALID)
  assert selection.success and selection.positions == (0, 2) and selection.replacement == 2
  assert selection.gap == pytest.approx(-0.5)
  np.testing.assert_allclose(selection.scores, SCORES - INFLUENCE[:, [0, 2]].sum(1))


def test_accent_ties_go_to_the_larger_margin_and_failures_are_flagged():
  # Both candidates need one row; c2 closes its gap by 0.8, c1 by 0.4: c2 wins.
  influence = np.array([[0.5, 0.0], [0.0, 0.0], [-0.5, 0.0]])
  selection = accent_select([1.0, 0.9, 0.8], influence, [True, True])
  assert (selection.positions, selection.replacement) == ((0,), 2)
  assert selection.gap == pytest.approx(-0.8)
  failed = accent_select([1.0, 0.9, 0.8], np.zeros((3, 2)), [True, True])
  assert not failed.success and failed.replacement == -1 and failed.positions == ()


# pure FIA vs FIA: order by I(z, y_rec) is z0, z1, z2; removing z0 WIDENS the gap to c1.
BASE_SCORES = np.array([2.0, 1.8, 1.0])
BASE_INFLUENCE = np.array([[0.5, 0.25, 0.15], [0.6, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_pure_fia_removes_in_order_until_rec_is_displaced():
  # z0: (1.5, 1.2, 1.0) gap 0.3; z1: (1.25, 1.2, 1.0) gap 0.05; z2: (1.1, 1.2, 1.0) gap -0.1.
  selection = pure_fia_select(BASE_SCORES, BASE_INFLUENCE, [True] * 3)
  assert selection.success and selection.positions == (0, 1, 2)
  assert selection.replacement == 1 and selection.gap == pytest.approx(-0.1)


def test_fia_keeps_only_gap_reducing_rows():
  # z0 would raise the gap 0.2 -> 0.3: skipped; z1 gives (1.75, 1.8, 1.0), gap -0.05: done.
  selection = fia_select(BASE_SCORES, BASE_INFLUENCE, [True] * 3)
  assert selection.success and selection.positions == (1,)
  assert selection.replacement == 1 and selection.gap == pytest.approx(-0.05)
  # ACCENT finds the same single row through the gap to c1 (c2's gap never closes).
  assert accent_select(BASE_SCORES, BASE_INFLUENCE, [True] * 3).positions == (1,)


def test_pure_fia_fails_when_rec_is_never_displaced():
  selection = pure_fia_select(BASE_SCORES, np.zeros((3, 3)), [True] * 3)
  assert not selection.success and selection.replacement == -1


# ---------------------------------------------------------------- batched explainers (NCF)
@pytest.fixture(scope="module")
def setup():
  train = make_synthetic(num_users=NUM_USERS, num_items=40, density=0.15, seed=0,
                         min_per_user=3)
  model = make_ncf(train.num_users, train.num_items, dim=4, mlp_layers=(4, 2),
                   learning_rate=0.01)
  params = train_original(model, to_train_data(train), seed=0, steps=200).params
  return train, model, params


@pytest.fixture(scope="module")
def accent_batched(setup):
  train, model, params = setup
  return explain_accent_family(model, params, train, np.arange(NUM_USERS), k=K,
                               history_width=WIDTH, item_width=WIDTH)


@pytest.fixture(scope="module")
def if_batched(setup, accent_batched):
  train, model, params = setup
  items = [record.item for record in accent_batched["accent"]]
  return explain_influence_function(model, params, train, np.arange(NUM_USERS), items,
                                    **IF_OPTIONS)


def _claim(record):
  return (record.user, record.item, record.deleted_items, record.replacement,
          record.extra.get("failed"))


def test_explanation_is_the_evaluation_record(accent_batched):
  assert Explanation is ExplanationRecord
  record = accent_batched["accent"][0]
  assert {"k", "failed", "predicted_gap", "influence_order", "seconds_per_pair"} <= set(
      record.extra)
  assert ExplanationRecord.from_json(record.to_json()) == record


def test_accent_family_batched_equals_one_by_one(setup, accent_batched):
  train, model, params = setup
  for user in range(NUM_USERS):
    single = explain_accent_family(model, params, train, [user], k=K, history_width=WIDTH,
                                   item_width=WIDTH)
    for method, records in single.items():
      assert _claim(records[0]) == _claim(accent_batched[method][user]), (method, user)
      assert records[0].extra["predicted_gap"] == pytest.approx(
          accent_batched[method][user].extra["predicted_gap"], rel=1e-4, abs=1e-6)
  accent = accent_batched["accent"]
  assert any(not r.extra["failed"] for r in accent) and any(r.extra["failed"] for r in accent)
  for record in accent:  # failures delete nothing and name no replacement
    assert record.extra["failed"] == (record.replacement is None) == (not record.deleted_items)


def test_fia_influences_match_the_toolkit_on_the_full_data(setup):
  train, model, params = setup
  user = np.array([5])
  top, _ = top_k_lists(model, params, train, user, K)
  rows, _ = pad_histories(train, user, WIDTH)
  compact = fia_influences(model, params, train, user, rows, top, item_width=WIDTH)[0, 1]
  full = score_change_on_removal(model, params, to_train_data(train), 5, int(top[0, 1]),
                                 jnp.asarray(rows[0]), solver="explicit", subset="target",
                                 hessian_rows="related", damping=1e-6)
  np.testing.assert_allclose(compact, -np.asarray(full), rtol=1e-4, atol=1e-7)


def test_influence_function_batched_equals_one_by_one(setup, if_batched):
  train, model, params = setup
  for record in if_batched:
    single = explain_influence_function(model, params, train, [record.user], [record.item],
                                        **IF_OPTIONS)[0]
    assert _claim(single) == _claim(record)


def test_influence_function_picks_the_top_e_score_decreases(setup, if_batched):
  train, model, params = setup
  for record in if_batched[:2]:
    rows = train.history_rows(record.user)
    change = np.asarray(score_change_on_removal(
        model, params, to_train_data(train), record.user, record.item, jnp.asarray(rows),
        damping=IF_OPTIONS["damping"], max_iters=IF_OPTIONS["max_iters"], on_fail="ignore"))
    expected = train.item[rows][np.argsort(change, kind="stable")[:3]]
    assert record.deleted_items == tuple(int(i) for i in expected)
    np.testing.assert_allclose(record.extra["predicted_score_change"], np.sort(change)[:3],
                               rtol=1e-3, atol=1e-6)


def test_too_little_history_is_a_one_line_error(setup):
  train, model, params = setup
  keep = np.ones(len(train), bool)
  keep[train.history_rows(0)[2:]] = False  # user 0 keeps 2 rows
  short = train.select(np.flatnonzero(keep))
  with pytest.raises(ValueError, match=r"^user 0 has 2 training rows, fewer than 3 [^\n]*$"):
    explain_influence_function(model, params, short, [0], [1], e=3)
  empty = train.select(np.flatnonzero(train.user != 0))
  with pytest.raises(ValueError, match=r"^user 0 has 0 training rows, fewer than 1 [^\n]*$"):
    explain_accent_family(model, params, empty, [0], k=K)
  with pytest.raises(ValueError, match="k=1"):
    explain_accent_family(model, params, train, [1], k=1)
