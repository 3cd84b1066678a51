"""The controls every table stands beside: the `random` placebo and the `none` noise floor."""

import jax
import numpy as np
import pytest

from cfjax.data.interactions import Interactions
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer
from cfjax.models import make_mf
from tests.conftest import TINY_ITEMS, TINY_USERS, tiny_rows


@pytest.fixture(scope="module")
def ctx():
  """An (untrained) MF context on the tiny data: the controls never read the parameters."""
  train = Interactions(*tiny_rows(), TINY_USERS, TINY_ITEMS)
  model = make_mf(TINY_USERS, TINY_ITEMS, dim=4)
  return ExplainContext(model=model, params=model.init(jax.random.PRNGKey(0)), train=train)


def unseen_targets(ctx, users):
  """Each user's first unseen item as the target."""
  items = [int(np.setdiff1d(np.arange(TINY_ITEMS), ctx.train.history_items(u))[0])
           for u in users]
  return Targets(np.asarray(users), np.asarray(items))


def test_random_draws_e_distinct_history_items_in_target_order(ctx):
  targets = unseen_targets(ctx, [0, 3, 3, 7, 11])
  records = run_explainer(get_explainer("random", e=3, seed=(5, 0xC0)), ctx, targets)
  rng = np.random.default_rng([5, 0xC0])  # one generator, drawn in target order
  for record, (user, item) in zip(records, targets):
    history = ctx.train.history_items(user)
    assert (record.user, record.item, record.method) == (user, item, "random")
    assert len(set(record.deleted_items)) == 3 and set(record.deleted_items) <= set(history)
    assert record.deleted_items == tuple(int(i) for i in rng.choice(history, 3, replace=False))


def test_random_is_reproducible_from_its_seed(ctx):
  targets = unseen_targets(ctx, range(TINY_USERS))
  draw = lambda seed: [r.deleted_items for r in
                       get_explainer("random", e=2, seed=seed).explain(ctx, targets)]
  assert draw(4) == draw(4)
  assert draw(4) != draw(5)


def test_random_refuses_histories_shorter_than_e(ctx):
  user = int(np.argmin(ctx.train.user_counts))
  size = int(ctx.train.user_counts[user]) + 1
  with pytest.raises(ValueError, match=f"fewer than {size}"):
    get_explainer("random", e=size).explain(ctx, unseen_targets(ctx, [user]))


def test_none_deletes_nothing(ctx):
  targets = unseen_targets(ctx, [1, 2, 9])
  records = run_explainer(get_explainer("none"), ctx, targets)
  assert [(r.user, r.item) for r in records] == list(targets)
  assert all(r.deleted_items == () and r.method == "none" and not r.found for r in records)
