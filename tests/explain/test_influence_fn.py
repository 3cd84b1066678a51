"""The influence-function explainer (Yao et al. eq. 10) through the protocol: batched equals
one by one, the top-e choice against the toolkit, and one-line input errors."""

import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer, top1_targets
from cfjax.explain.influence_fn import select_top_e
from cfjax.influence import score_change_on_removal
from cfjax.models import make_ncf
from cfjax.train import RetrainProtocol, to_train_data, train_original

NUM_USERS, WIDTH = 30, 32
OPTIONS = dict(e=3, damping=0.1, max_iters=50, history_width=WIDTH, on_fail="ignore")


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


@pytest.fixture(scope="module")
def batched(ctx):
  targets = top1_targets(ctx, np.arange(NUM_USERS))
  return run_explainer(get_explainer("influence_function", **OPTIONS), ctx, targets)


def _claim(record):
  return record.user, record.item, record.deleted_items, record.replacement


def test_batched_equals_one_by_one(ctx, batched):
  explainer = get_explainer("influence_function", **OPTIONS)
  for record in batched:
    alone = ExplainContext.from_original(ctx.model, ctx.train, ctx.original, ctx.spec)
    single = run_explainer(explainer, alone, Targets([record.user], [record.item]))[0]
    assert _claim(single) == _claim(record)


def test_picks_the_top_e_score_decreases_of_the_toolkit(ctx, batched):
  for record in batched[:2]:
    rows = ctx.train.history_rows(record.user)
    change = np.asarray(score_change_on_removal(
        ctx.model, ctx.params, to_train_data(ctx.train), record.user, record.item,
        jnp.asarray(rows), solver="minres", damping=OPTIONS["damping"],
        max_iters=OPTIONS["max_iters"], on_fail="ignore"))
    expected = ctx.train.item[rows][np.argsort(change, kind="stable")[:3]]
    assert record.deleted_items == tuple(int(i) for i in expected)
    np.testing.assert_allclose(record.extra["predicted_score_change"], np.sort(change)[:3],
                               rtol=1e-3, atol=1e-6)
    assert record.replacement is None and record.extra["e"] == 3


def test_select_top_e_by_hand():
  # Largest influence first, padding skipped, ties to the lower position.
  chosen = select_top_e([0.1, 0.5, 9.0, 0.5, -1.0], [True, True, False, True, True], 3)
  assert chosen.tolist() == [1, 3, 0]


def test_too_little_history_is_a_one_line_error(ctx):
  train = ctx.train
  keep = np.ones(len(train), bool)
  keep[train.history_rows(0)[2:]] = False  # user 0 keeps 2 rows
  short = ExplainContext(model=ctx.model, params=ctx.params,
                         train=train.select(np.flatnonzero(keep)))
  item = int(np.setdiff1d(np.arange(train.num_items), short.train.history_items(0))[0])
  with pytest.raises(ValueError, match=r"^user 0 has 2 training rows, fewer than 3 [^\n]*$"):
    run_explainer(get_explainer("influence_function", e=3), short, Targets([0], [item]))
  with pytest.raises(ValueError, match=r"^only 2 history rows for e=3; lower e$"):
    select_top_e([0.1, 0.2, 0.0], [True, True, False], 3)
