"""FIA, pure FIA and ACCENT on RCF through the hooks: the user's embedding row (related_rows)
plus the direct effect of removing an item from the history RCF reads (attach_weights)."""

import numpy as np
import pytest

from cfjax.data.interactions import padded_histories
from cfjax.explain import get_explainer, run_explainer
from cfjax.explain.fia import history_effects
from tests.explain.test_attention import rcf_context


@pytest.mark.slow  # shares test_attention's RCF context (its first compile takes minutes)
def test_history_effect_is_the_score_change_with_parameters_fixed():
  ctx, targets = rcf_context()
  model, train = ctx.model, ctx.train
  users = targets.users[:2]
  rows, _ = padded_histories(train, users)
  top = ctx.top_k(users, 3)[0]
  effects = history_effects(model, ctx.params, len(train), users, rows, top)
  assert effects.shape == (2, 3, rows.shape[1])
  b, r = 1, 0
  kept = np.ones(len(train), np.float32)
  kept[rows[b, r]] = 0
  base = np.asarray(model.predict(ctx.params, np.full(3, users[b]), top[b]))
  without = np.asarray(model.predict(model.attach_weights(ctx.params, kept),
                                     np.full(3, users[b]), top[b]))
  np.testing.assert_allclose(effects[b, :, r], base - without, rtol=1e-4, atol=1e-6)
  assert (effects[rows[:, None, :].repeat(3, 1) < 0] == 0).all()  # padding: no effect


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pure_fia", "fia", "accent"])
def test_fia_methods_explain_rcf_over_the_user_row(name):
  ctx, targets = rcf_context()
  assert ctx.model.related_rows(3, 5) == ((("user_embeddings",), 3),)
  records = run_explainer(get_explainer(name, replacement_k=4, damping=0.01), ctx, targets)
  assert len(records) == len(targets)
  for r in records:
    assert set(r.deleted_items) <= set(ctx.train.history_items(r.user).tolist())
    assert r.extra["failed"] or r.replacement in r.extra["top_k"][1:]
