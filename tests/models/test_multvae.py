"""Mult-VAE and its data preparation (Liang et al. 2018; Wen et al., section 4.1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data.interactions import Interactions
from cfjax.data.vae_split import make_vae_split
from cfjax.models import fold_in_recommender
from cfjax.models.multvae import anneal_weight, make_multvae, ndcg_at_k, train_multvae
from cfjax.papers.published import LCER_TABLE1
from tests.conftest import needs_data

ITEMS = 20


@pytest.fixture(scope="module")
def tiny_vae():
  return make_multvae(ITEMS, hidden=8, latent=4)


def _ratings(users=30, items=ITEMS, seed=0):
  rng = np.random.default_rng(seed)
  user, item = np.nonzero(rng.random((users, items)) < 0.5)
  rating = rng.integers(3, 6, len(user)).astype(np.float32)
  return Interactions(user.astype(np.int32), item.astype(np.int32), rating, users, items)


def test_anneal_weight_is_capped_linear():
  assert float(anneal_weight(0)) == 0.0
  assert float(anneal_weight(1000, total_anneal_steps=10_000, anneal_cap=0.2)) == pytest.approx(0.1)
  assert float(anneal_weight(10**9)) == pytest.approx(0.2)


def test_scores_are_deterministic_and_item_scorers_agree(tiny_vae):
  params = tiny_vae.init(jax.random.key(0))
  x = (jax.random.uniform(jax.random.key(1), (3, ITEMS)) < 0.4).astype(jnp.float32)
  s = tiny_vae.score(params, x)
  assert s.shape == (3, ITEMS)
  np.testing.assert_array_equal(s, tiny_vae.score(params, x))
  items = jnp.array([0, 5, 7])
  np.testing.assert_allclose(tiny_vae.item_score(params, x, items), s[jnp.arange(3), items],
                             atol=1e-5)
  hist = jnp.array([1, 3, 4, 9])
  values = jnp.array([1.0, 0.0, 1.0, 1.0])
  dense = jnp.zeros(ITEMS).at[hist].set(values)
  np.testing.assert_allclose(tiny_vae.history_item_score(params, hist, values, 7),
                             tiny_vae.score(params, dense[None])[0, 7], atol=1e-5)
  loss = tiny_vae.loss(params, x, jax.random.key(2), 0.2)
  assert np.isfinite(float(loss))


def test_an_empty_input_has_finite_scores_and_gradients(tiny_vae):
  """LCER's mask can remove every item of a history: the normalisation x / max(||x||, eps)
  once gave NaN gradients there (0 * inf), and NaN masks after a few hundred steps."""
  params = tiny_vae.init(jax.random.key(0))
  hist = jnp.array([1, 3, 4, 9])
  for values in (jnp.zeros(4), jnp.array([0.0, 0.0, 2.0, 0.0])):
    score, grad = jax.value_and_grad(
        lambda v: tiny_vae.history_item_score(params, hist, v, 7))(values)
    assert np.isfinite(float(score)) and np.isfinite(np.asarray(grad)).all()
  grad = jax.grad(lambda x: tiny_vae.score(params, x)[0, 7])(jnp.zeros((1, ITEMS)))
  assert np.isfinite(np.asarray(grad)).all()
  assert np.isfinite(np.asarray(tiny_vae.score(params, jnp.zeros((1, ITEMS))))).all()


def test_fold_in_view_scores_its_rows(tiny_vae):
  """User u of the view is row u: its scores are MultVAE.score of the row; no row_losses."""
  params = tiny_vae.init(jax.random.key(0))
  rows = (np.random.default_rng(3).random((4, ITEMS)) < 0.4).astype(np.float32)
  view = fold_in_recommender(tiny_vae, rows)
  assert (view.name, view.num_users, view.num_items) == ("multvae", 4, ITEMS)
  users = jnp.array([2, 0, 2])
  np.testing.assert_allclose(view.scores(params, users), tiny_vae.score(params, rows[[2, 0, 2]]),
                             atol=1e-6)
  np.testing.assert_allclose(view.predict(params, users, jnp.array([1, 5, 9])),
                             tiny_vae.score(params, rows[[2, 0, 2]])[np.arange(3), [1, 5, 9]],
                             atol=1e-5)
  assert not view.has("row_losses")
  assert view.score_rows is tiny_vae.score
  assert view.history_item_score is tiny_vae.history_item_score


def test_ndcg_by_hand():
  scores = jnp.array([[3.0, 2.0, 1.0, 0.0]])
  seen = jnp.array([[True, False, False, False]])
  heldout = jnp.array([[0.0, 0.0, 1.0, 0.0]])  # ranked 2nd among unseen
  assert float(ndcg_at_k(scores, seen, heldout, k=3)[0]) == pytest.approx(1 / np.log2(3))


def test_vae_split_and_training(tiny_vae):
  split = make_vae_split(_ratings(), n_heldout_users=4, seed=1)
  users = np.concatenate([split.train_users, split.val_users, split.test_users])
  assert len(np.unique(users)) == len(users) == split.counts["users"]
  assert split.train.shape == (split.counts["users"] - 8, split.num_items)
  assert not np.any((split.test_tr > 0) & (split.test_te > 0))
  assert split.num_items == split.counts["kept_items"] <= split.counts["items"]
  model = make_multvae(split.num_items, hidden=8, latent=4)
  result = train_multvae(model, split.train, split.val_tr, split.val_te, key=jax.random.key(0),
                         epochs=3, batch_size=7)
  assert result.val_ndcg.shape == (3,)
  assert result.updates == 3 * -(-split.train.shape[0] // 7)
  assert result.best_ndcg == pytest.approx(float(np.nanmax(result.val_ndcg)))


class TestMovieLens100K:
  pytestmark = needs_data("ml-100k", "u.data")

  def test_counts_match_table1(self):
    from cfjax.data import load
    split = make_vae_split(load("movielens-100k"), n_heldout_users=100)
    assert (split.counts["users"], split.counts["items"], split.counts["interactions"]) == (
        LCER_TABLE1["movielens-100k"])
    assert split.train.shape[0] == 738 and split.test_tr.shape[0] == 100
