"""The models' losses against closed forms, their hooks, and building one's own model."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.influence import target_subset
from cfjax.models import (MissingHookError, Recommender, from_linen, make_mf, make_model,
                          make_ncf, weighted_loss)


def test_mf_row_loss_is_squared_error_plus_a_per_row_l2_term():
  model = make_mf(2, 3, dim=2, l2=0.5, global_mean=3.0)
  params = {"user_factors": jnp.array([[1.0, 2.0], [0.0, -1.0]]),
            "item_factors": jnp.array([[0.5, 0.5], [1.0, 0.0], [2.0, 1.0]]),
            "user_bias": jnp.array([0.1, -0.2]), "item_bias": jnp.array([0.3, 0.0, -0.5]),
            "mean": jnp.array(3.0)}
  users, items, ratings = jnp.array([0, 1]), jnp.array([2, 0]), jnp.array([5.0, 2.0])
  # (0, 2): 3 + 0.1 - 0.5 + (2 + 2) = 6.6; norms 5 + 5 + 0.01 + 0.25.
  # (1, 0): 3 - 0.2 + 0.3 + (0 - 0.5) = 2.6; norms 1 + 0.5 + 0.04 + 0.09.
  expected = np.array([(5 - 6.6) ** 2 + 0.5 * 10.26, (2 - 2.6) ** 2 + 0.5 * 1.63])
  np.testing.assert_allclose(model.row_losses(params, users, items, ratings), expected,
                             rtol=1e-5)
  assert float(model.penalty(params)) == 0.0
  # Deleting a row removes its loss AND its share of the regulariser (weighted mean).
  kept = weighted_loss(model, params, users, items, ratings, jnp.array([1.0, 0.0]))
  assert float(kept) == pytest.approx(expected[0], rel=1e-5)


def test_ncf_loss_is_squared_error_plus_a_global_half_l2_on_every_weight():
  model = make_ncf(2, 3, dim=2, mlp_layers=(2, 1), weight_decay=0.1)
  params = model.init(jax.random.PRNGKey(0))
  users, items, ratings = jnp.array([0, 1, 1]), jnp.array([2, 0, 1]), jnp.array([4.0, 1.0, 3.0])
  prediction = model.predict(params, users, items)
  np.testing.assert_allclose(model.row_losses(params, users, items, ratings),
                             (ratings - prediction) ** 2, rtol=1e-6)
  squares = sum(float(jnp.sum(leaf ** 2)) for leaf in jax.tree.leaves(params))
  assert float(model.penalty(params)) == pytest.approx(0.1 * 0.5 * squares, rel=1e-5)
  weights = jnp.array([1.0, 1.0, 0.0])
  expected = float(jnp.mean(((ratings - prediction) ** 2)[:2])) + 0.05 * squares
  assert float(weighted_loss(model, params, users, items, ratings, weights)) == pytest.approx(
      expected, rel=1e-5)


def test_ncf_prediction_by_hand():
  """GMF product and MLP tower concatenated into one linear output (He et al., ACCENT)."""
  model = make_ncf(1, 1, dim=1, mlp_layers=(1,))
  params = jax.tree.map(jnp.zeros_like, model.init(jax.random.PRNGKey(0)))
  params = jax.tree_util.tree_map_with_path(
      lambda path, leaf: jnp.full_like(leaf, {"gmf_user": 2.0, "gmf_item": 3.0, "mlp_user": 1.0,
                                              "mlp_item": -4.0, "mlp_0": 0.5, "output": 1.0}
                                       .get(path[0].key, 0.0)), params)
  # GMF: 2 * 3 = 6; MLP: relu(0.5 * 1 + 0.5 * -4 + 0.5) = relu(-1.0) = 0; output 6 + 0 + 1.
  assert float(model.predict(params, jnp.array([0]), jnp.array([0]))[0]) == pytest.approx(7.0)


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_hooks_of_the_built_in_models(name):
  data = make_synthetic(num_users=5, num_items=6, seed=0)
  model = make_model(name, data, dim=3)
  params = model.init(jax.random.PRNGKey(0))
  width = 3 if name == "mf" else 6  # NCF: [GMF | MLP]
  assert model.item_embeddings(params).shape == (6, width)
  assert model.user_embeddings(params).shape == (5, width)
  subset = target_subset(model, 1, 2)
  assert subset.size(params) == (2 * 3 + 2 if name == "mf" else 4 * 3)
  theta = subset.select(params)
  restored = subset.embed(theta, params)
  assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(restored),
                                                    jax.tree.leaves(params)))


class DotModel(nn.Module):
  num_users: int
  num_items: int

  @nn.compact
  def __call__(self, users, items):
    user = nn.Embed(self.num_users, 2, name="user")(users)
    item = nn.Embed(self.num_items, 2, name="item")(items)
    return jnp.sum(user * item, axis=-1)


def test_from_linen_derives_scores_and_a_squared_error_loss():
  model = from_linen(DotModel(4, 5), name="dot", num_users=4, num_items=5,
                     item_embeddings=lambda p: p["item"]["embedding"])
  params = model.init(jax.random.PRNGKey(0))
  scores = model.scores(params, jnp.array([0, 3]))
  manual = params["user"]["embedding"][jnp.array([0, 3])] @ params["item"]["embedding"].T
  np.testing.assert_allclose(scores, manual, rtol=1e-6)
  prediction = float(params["user"]["embedding"][1] @ params["item"]["embedding"][2])
  losses = model.row_losses(params, jnp.array([1]), jnp.array([2]), jnp.array([3.0]))
  assert float(losses[0]) == pytest.approx((3.0 - prediction) ** 2, rel=1e-5)
  assert model.has("item_embeddings") and not model.has("related_rows")


def test_a_missing_hook_is_one_line_naming_it_and_what_to_pass():
  model = Recommender(name="bare", num_users=2, num_items=2, init=lambda key: {},
                      predict=lambda p, u, i: jnp.zeros(u.shape))
  with pytest.raises(MissingHookError) as error:
    model.require("item_embeddings", "knn")
  message = str(error.value)
  assert "\n" not in message and "'bare' has no item_embeddings hook, which knn needs" in message
  assert "item_embeddings=lambda params" in message
  with pytest.raises(MissingHookError, match="row_losses hook, which training needs"):
    weighted_loss(model, {}, jnp.zeros(1, int), jnp.zeros(1, int), jnp.zeros(1), jnp.ones(1))


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="", num_users=1, num_items=1), "name must be a non-empty string"),
    (dict(name="x", num_users=0, num_items=1), "num_users must be a positive int"),
    (dict(name="x", num_users=1, num_items=2.5), "num_items must be a positive int"),
])
def test_recommender_fields_are_checked(kwargs, message):
  with pytest.raises(ValueError, match=message):
    Recommender(init=lambda key: {}, predict=lambda p, u, i: u, **kwargs)


def test_make_model_errors_name_the_choices():
  data = make_synthetic(num_users=5, num_items=6, seed=0)
  with pytest.raises(ValueError, match="unknown model 'svd'; choose one of bpr, ease, lightgcn, mf, ncf, rcf"):
    make_model("svd", data)
  with pytest.raises(ValueError, match="model 'mf': .*'width'"):
    make_model("mf", data, width=3)


def test_the_model_registry_carries_recipes_and_tiny_settings():
  from cfjax.models import MODELS, available_models
  data = make_synthetic(num_users=5, num_items=6, seed=0)
  ncf = MODELS.get("ncf").recipe
  assert (ncf.steps, ncf.batch_size, dict(ncf.hparams)) == (
      600, 1246, {"weight_decay": 1e-4, "learning_rate": 1e-2})
  assert MODELS.get("mf").recipe.as_dict() == {"steps": 300, "batch_size": None, "hparams": {}}
  for name in available_models():
    entry = MODELS.get(name)
    assert not entry.amortised and entry.recipe.steps >= 1
    if entry.tiny is not None:
      assert make_model(name, data, **entry.tiny.hparams).name == name
  with pytest.raises(TypeError):
    ncf.hparams["learning_rate"] = 1.0  # a recipe is read-only


def test_multvae_is_a_registered_amortised_model_that_make_model_refuses():
  from cfjax.models import MODELS, MultVAE, available_models
  data = make_synthetic(num_users=5, num_items=6, seed=0)
  entry = MODELS.get("multvae")
  assert entry.amortised and "multvae" not in available_models()
  vae = entry.build(data, **entry.tiny.hparams)
  assert isinstance(vae, MultVAE) and vae.hparams["hidden"] == 8
  with pytest.raises(ValueError, match="multvae is amortised.*train_multvae.*fold_in_recommender"):
    make_model("multvae", data)


@pytest.mark.parametrize("name, hparams, message", [
    ("mf", dict(l2=-1.0), r"model 'mf': l2=-1.0 is outside its domain \(a finite number >= 0\)"),
    ("bpr", dict(l2=-10.0), r"model 'bpr': l2=-10.0 is outside"),
    ("ncf", dict(learning_rate=0.0), r"learning_rate=0.0 is outside .*> 0"),
    ("mf", dict(dim=2.5), r"dim=2.5 is outside its domain \(a whole number >= 1\)"),
    ("mf", dict(learning_rate=float("nan")), r"learning_rate=nan is outside"),
    ("ncf", dict(mlp_layers=(4, 0)), r"mlp_layers=\(4, 0\) is outside"),
    ("ease", dict(l2=-2.0), r"model 'ease': l2=-2.0"),
])
def test_hyperparameters_outside_their_domain_are_refused_in_one_line(name, hparams, message):
  from cfjax.data import make_synthetic
  from cfjax.models import make_model
  data = make_synthetic(num_users=6, num_items=8, density=0.5, seed=0, min_per_user=2)
  with pytest.raises(ValueError, match=message) as error:
    make_model(name, data, **hparams)
  assert "\n" not in str(error.value)


def test_hyperparameters_inside_their_domain_pass_including_numpy_scalars():
  from cfjax.models.domains import check_domains
  check_domains("mf", dim=np.int64(4), l2=np.float32(0.0), learning_rate=np.float32(0.05),
                decay_steps=None, global_mean=-1.0)
  check_domains("lightgcn", num_layers=0)
