"""ACCENT (Tran et al., Algorithm 1): the greedy gap fill and the selection on hand-made
numbers, ties, failures, and the explainer's one-line refusals through the protocol."""

import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer, top1_targets
from cfjax.explain.accent import accent_select, greedy_gap_fill
from cfjax.models import make_ncf
from cfjax.train import RetrainProtocol, to_train_data, train_original

# ACCENT example: scores (rec, c1, c2) = (3.0, 2.5, 2.0); rows z0..z3 plus one padding row
# whose huge influences must be ignored.
SCORES = np.array([3.0, 2.5, 2.0])
I_REC = np.array([0.3, 0.1, 0.4, -0.2, 5.0])
GAP_C1 = np.array([0.3, 0.15, 0.1, -0.2, 5.0])  # gap 0.5: z0, z1, z2 -> 0.2, 0.05, -0.05
GAP_C2 = np.array([0.8, -0.1, 0.7, -0.3, 5.0])  # gap 1.0: z0, z2 -> 0.2, -0.5
INFLUENCE = np.stack([I_REC, I_REC - GAP_C1, I_REC - GAP_C2])  # eq. 6: I(z, y_rec - y_c)
VALID = np.array([True, True, True, True, False])


def test_greedy_gap_fill_by_hand():
  assert greedy_gap_fill(0.5, GAP_C1, VALID) == ((0, 1, 2), pytest.approx(-0.05))
  assert greedy_gap_fill(1.0, GAP_C2, VALID) == ((0, 2), pytest.approx(-0.5))
  # Stops at the first non-positive gap influence (Algorithm 1): z2, z0, then z1 = 0 breaks.
  assert greedy_gap_fill(1.0, [0.3, 0.0, 0.5, -1.0], [True] * 4) == ((2, 0), pytest.approx(0.2))
  # A gap that is already negative needs no removal.
  assert greedy_gap_fill(-0.1, [0.3, 0.2], [True, True]) == ((), pytest.approx(-0.1))


def test_greedy_gap_fill_ties_go_to_the_lower_position():
  assert greedy_gap_fill(0.15, [0.1, 0.2, 0.2], [True] * 3) == ((1,), pytest.approx(-0.05))


def test_accent_select_by_hand():
  # c1 needs three rows, c2 two: the smaller set (c2's) wins.
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


def test_accent_equal_sets_and_margins_go_to_the_better_ranked_candidate():
  # Equal scores of c1 and c2 and equal gap influences: identical sets and margins.
  influence = np.array([[0.5, 0.0], [0.0, 0.0], [0.0, 0.0]])
  selection = accent_select([1.0, 0.8, 0.8], influence, [True, True])
  assert (selection.positions, selection.replacement) == ((0,), 1)


def test_accent_select_refuses_mismatched_shapes_in_one_line():
  with pytest.raises(ValueError, match=r"^scores \(3,\) and influence \(3, 4\) [^\n]*$"):
    accent_select(SCORES, np.zeros((3, 4)), VALID)


# ---------------------------------------------------------------- through the protocol (NCF)
@pytest.fixture(scope="module")
def ctx():
  train = make_synthetic(num_users=20, num_items=30, density=0.3, seed=1, min_per_user=3)
  model = make_ncf(train.num_users, train.num_items, dim=4, mlp_layers=(4, 2),
                   learning_rate=0.01)
  spec = RetrainProtocol(steps=100, batch_size=None, seeds=(0,))
  original = train_original(model, to_train_data(train),
                            RetrainProtocol(steps=spec.steps, seeds=(0,)))
  return ExplainContext.from_original(model, train, original, spec)


def test_accent_refuses_a_target_that_is_not_the_top1_in_one_line(ctx):
  top2 = ctx.top_k(np.array([3]), 2)[0][0, 1]
  with pytest.raises(ValueError, match=r"^accent explains a user's top-1 item, but target "
                     rf"\(3, {top2}\) is not user 3's top-1 [^\n]*$"):
    run_explainer(get_explainer("accent", replacement_k=3), ctx, Targets([3], [top2]))


def test_accent_refuses_k1_in_one_line(ctx):
  with pytest.raises(ValueError,
                     match=r"^accent: replacement_k=1 leaves no candidate replacement; "
                           r"pass replacement_k >= 2$"):
    run_explainer(get_explainer("accent", replacement_k=1), ctx, top1_targets(ctx, [1]))


def test_accent_refuses_a_user_without_history_in_one_line(ctx):
  train = ctx.train
  empty = ExplainContext(model=ctx.model, params=ctx.params,
                         train=train.select(np.flatnonzero(train.user != 0)))
  with pytest.raises(ValueError, match=r"^user 0 has 0 training rows, fewer than 1 [^\n]*$"):
    run_explainer(get_explainer("accent", replacement_k=3), empty, Targets([0], [1]))

