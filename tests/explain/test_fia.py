"""FIA (ACCENT sec. 3.3.2): the pure FIA and FIA rules on hand-made numbers, the batched FIA
influences against the toolkit's, and pure FIA / FIA / ACCENT batched vs one by one through
the protocol (`get_explainer`, `ExplainContext`, `Targets`)."""

import jax.numpy as jnp
import numpy as np
import pytest

from cfjax import rank
from cfjax.data import make_synthetic, padded_histories
from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets
from cfjax.explain.fia import fia_influences, fia_select, pure_fia_select
from cfjax.influence import score_change_on_removal
from cfjax.models import make_ncf
from cfjax.records import Explanation
from cfjax.train import RetrainProtocol, to_train_data, train_original

NUM_USERS, K, WIDTH = 40, 3, 32
METHODS = ("pure_fia", "fia", "accent")

# pure FIA vs FIA: order by I(z, y_rec) is z0, z1, z2; removing z0 WIDENS the gap to c1.
BASE_SCORES = np.array([2.0, 1.8, 1.0])
BASE_INFLUENCE = np.array([[0.5, 0.25, 0.15], [0.6, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_pure_fia_removes_in_order_until_rec_is_displaced():
  # z0: (1.5, 1.2, 1.0) gap 0.3; z1: (1.25, 1.2, 1.0) gap 0.05; z2: (1.1, 1.2, 1.0) gap -0.1.
  selection = pure_fia_select(BASE_SCORES, BASE_INFLUENCE, [True] * 3)
  assert selection.success and selection.positions == (0, 1, 2)
  assert selection.replacement == 1 and selection.gap == pytest.approx(-0.1)
  np.testing.assert_allclose(selection.scores, [1.1, 1.2, 1.0])


def test_fia_keeps_only_gap_reducing_rows():
  # z0 would raise the gap 0.2 -> 0.3: skipped; z1 gives (1.75, 1.8, 1.0), gap -0.05: done.
  selection = fia_select(BASE_SCORES, BASE_INFLUENCE, [True] * 3)
  assert selection.success and selection.positions == (1,)
  assert selection.replacement == 1 and selection.gap == pytest.approx(-0.05)


def test_pure_fia_and_fia_fail_when_rec_is_never_displaced():
  for rule in (pure_fia_select, fia_select):
    selection = rule(BASE_SCORES, np.zeros((3, 3)), [True] * 3)
    assert not selection.success and selection.replacement == -1, rule.__name__


def test_padding_rows_are_never_removed():
  influence = np.array([[0.1, 9.0], [0.0, 0.0], [0.0, 0.0]])
  selection = pure_fia_select(BASE_SCORES, influence, [True, False])
  assert selection.positions == (0,) and not selection.success


def test_rules_refuse_mismatched_shapes_in_one_line():
  with pytest.raises(ValueError, match=r"^influence has shape \(3, 2\), expected \[K, R\] = "
                     r"\(3, 3\);[^\n]*$"):
    fia_select(BASE_SCORES, np.zeros((3, 2)), [True] * 3)
  with pytest.raises(ValueError, match=r"^scores has shape \(1,\);[^\n]*$"):
    pure_fia_select([1.0], np.zeros((1, 3)), [True] * 3)


# ---------------------------------------------------------------- batched explainers (NCF)
@pytest.fixture(scope="module")
def ctx():
  train = make_synthetic(num_users=NUM_USERS, num_items=40, density=0.15, seed=0,
                         min_per_user=3)
  model = make_ncf(train.num_users, train.num_items, dim=4, mlp_layers=(4, 2),
                   learning_rate=0.01)
  spec = RetrainProtocol(steps=200, batch_size=None, seeds=(0,))
  original = train_original(model, to_train_data(train),
                            RetrainProtocol(steps=spec.steps, seeds=(0,)))
  return ExplainContext.from_original(model, train, original, spec)


def explainer(method):
  return get_explainer(method, replacement_k=K, history_width=WIDTH, item_width=WIDTH)


@pytest.fixture(scope="module")
def batched(ctx):
  """method -> the records of all users, the three methods on ONE context."""
  targets = top1_targets(ctx, np.arange(NUM_USERS))
  return {m: run_explainer(explainer(m), ctx, targets) for m in METHODS}


def _claim(record):
  return (record.user, record.item, record.deleted_items, record.replacement,
          record.extra.get("failed"))


def test_the_methods_share_one_influence_computation_per_k(ctx, batched):
  assert len([key for key in ctx.cache if key[0] == "fia_top_k"]) == 1  # three methods, one k
  targets = top1_targets(ctx, np.arange(NUM_USERS))
  fewer = get_explainer("fia", replacement_k=2, history_width=WIDTH, item_width=WIDTH)
  shared = run_explainer(fewer, ctx, targets)  # after k=3 on the same context
  assert len([key for key in ctx.cache if key[0] == "fia_top_k"]) == 2
  fresh = ExplainContext.from_original(ctx.model, ctx.train, ctx.original, ctx.spec)
  assert list(map(_claim, shared)) == list(map(_claim, run_explainer(fewer, fresh, targets)))
  assert all(len(r.extra["top_k"]) == 2 and r.extra["k"] == 2 for r in shared)


def test_records_are_explanations_with_their_evidence(batched):
  record = batched["accent"][0]
  assert isinstance(record, Explanation)
  assert {"k", "failed", "predicted_gap", "influence_order", "seconds_per_pair"} <= set(
      record.extra)
  assert Explanation.from_json(record.to_json()) == record


def test_batched_equals_one_by_one(ctx, batched):
  for user in range(NUM_USERS):
    alone = ExplainContext.from_original(ctx.model, ctx.train, ctx.original, ctx.spec)
    targets = top1_targets(alone, [user])
    for method in METHODS:
      record = run_explainer(explainer(method), alone, targets)[0]
      assert _claim(record) == _claim(batched[method][user]), (method, user)
      assert record.extra["predicted_gap"] == pytest.approx(
          batched[method][user].extra["predicted_gap"], rel=1e-4, abs=1e-6)


def test_failures_delete_nothing_and_name_no_replacement(ctx, batched):
  accent = batched["accent"]
  found = [r for r in accent if not r.extra["failed"]]
  failed = [r for r in accent if r.extra["failed"]]
  assert found and failed
  assert all(r.replacement is None and r.deleted_items == () for r in failed)
  for r in found:
    assert r.replacement in r.extra["top_k"][1:] and r.extra["predicted_gap"] < 0
    assert set(r.deleted_items) <= set(ctx.train.history_items(r.user).tolist())


def test_fia_influences_match_the_toolkit_on_the_full_data(ctx):
  user = np.array([5])
  top, _ = rank.top_k_lists(ctx.model, ctx.params, ctx.train, user, K)
  rows, _ = padded_histories(ctx.train, user, WIDTH)
  compact = fia_influences(ctx.model, ctx.params, ctx.train, user, rows, top,
                           item_width=WIDTH)[0, 1]
  full = score_change_on_removal(ctx.model, ctx.params, to_train_data(ctx.train), 5,
                                 int(top[0, 1]), jnp.asarray(rows[0]), solver="explicit",
                                 subset="target", hessian_rows="related", damping=1e-6)
  np.testing.assert_allclose(compact, -np.asarray(full), rtol=1e-4, atol=1e-7)
