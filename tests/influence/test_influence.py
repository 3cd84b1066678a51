"""Influence toolkit: exact HVPs, subsets, inverse-HVP solvers, and influence vs retraining."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from cfjax.influence import (CGNotConvergedError, CGNotConvergedWarning,
                             cg_solve, check_converged, explicit_hessian, explicit_inverse_hvp, gauss_solve,
                             influence_on_prediction, lissa_solve, make_hvp,
                             make_score_change_fn, minres_solve, row_subset, score_change_on_removal,
                             target_subset)
from cfjax.models import make_mf, make_ncf, weighted_loss
from cfjax.train import TrainData

USERS, ITEMS = 6, 8


def _rows(seed=0, per_user=4):
  rng = np.random.default_rng(seed)
  user = np.repeat(np.arange(USERS), per_user)
  item = np.concatenate([rng.choice(ITEMS, per_user, replace=False) for _ in range(USERS)])
  rating = rng.integers(1, 6, len(user)).astype(np.float32)
  return TrainData(jnp.asarray(user, jnp.int32), jnp.asarray(item, jnp.int32),
                   jnp.asarray(rating))


def _random_params(model, seed=0, std=0.5):
  """Random params with non-trivial curvature, built on the host (no init compile)."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0))
  return jax.tree.map(lambda s: jnp.asarray(std * rng.normal(size=s.shape), s.dtype), shapes)


@pytest.fixture(scope="module")
def data():
  return _rows()


def _tiny(name):
  if name == "mf":
    return make_mf(USERS, ITEMS, dim=2)
  return make_ncf(USERS, ITEMS, dim=2, mlp_layers=(2,), weight_decay=0.01)


@pytest.fixture(scope="module")
def setups(data):
  """Per model name: (model, random params, explicit full Hessian, theta, unravel), cached."""
  cache = {}

  def get(name):
    if name not in cache:
      model = _tiny(name)
      params = _random_params(model)
      cache[name] = (model, params) + _flat_hessian(_full_loss(model, data), params)
    return cache[name]

  return get


def _full_loss(model, data):
  return lambda p: weighted_loss(model, p, data.user, data.item, data.rating,
                                 jnp.ones(data.user.shape))


def _assert_close(actual, expected, rtol=1e-5):
  """Relative to the vector's scale: entries near zero are compared to max |expected|."""
  actual, expected = np.asarray(actual), np.asarray(expected)
  np.testing.assert_allclose(actual, expected, rtol=rtol,
                             atol=rtol * float(np.abs(expected).max()))


def _flat_hessian(loss, params):
  """The explicit Hessian of `loss` over the flattened params (jitted: eager is slow)."""
  theta, unravel = ravel_pytree(params)
  hessian = jax.jit(lambda t: explicit_hessian(lambda x: loss(unravel(x)), t))(theta)
  return np.asarray(hessian), theta, unravel


def _spd_problem(size=10, seed=0):
  """0.5 x^T A x on a pytree {"a": [4], "b": [2, 3]}; A SPD with eigenvalues in [1, 5]."""
  rng = np.random.default_rng(seed)
  q, _ = np.linalg.qr(rng.normal(size=(size, size)))
  a = (q * np.linspace(1.0, 5.0, size)) @ q.T
  template = {"a": jnp.zeros(4), "b": jnp.zeros((2, 3))}
  _, unravel = ravel_pytree(template)

  def loss(tree):
    flat = ravel_pytree(tree)[0]
    return 0.5 * flat @ jnp.asarray(a, jnp.float32) @ flat

  bs = rng.normal(size=(3, size)).astype(np.float32)
  return a, loss, unravel, template, bs


# --- HVP -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mf", "ncf"])
def test_hvp_equals_explicit_hessian_times_vector(setups, data, name):
  model, params, hessian, theta, unravel = setups(name)
  loss = _full_loss(model, data)
  vectors = np.random.default_rng(2).normal(size=(3, theta.shape[0])).astype(np.float32)
  hvp, damped = make_hvp(loss), make_hvp(loss, damping=0.3)
  both = lambda v: tuple(ravel_pytree(f(params, unravel(v)))[0] for f in (hvp, damped))
  single = jax.jit(both)
  stacked = jax.jit(jax.vmap(both))(vectors)
  for k, v in enumerate(vectors):
    plain, damp = single(v)
    _assert_close(plain, hessian @ v)
    _assert_close(damp, hessian @ v + 0.3 * v)
    _assert_close(stacked[0][k], plain)  # vmap over a stack of vectors equals the loop
    _assert_close(stacked[1][k], damp)


# --- subsets -------------------------------------------------------------------------------


def test_row_subset_round_trip_and_hessian_block(setups, data):
  model, params, full, theta, unravel = setups("ncf")

  @jax.jit
  def round_trip(user, item):
    subset = target_subset(model, user, item)
    theta_s = subset.select(params)
    return theta_s, subset.embed(theta_s, params), subset.embed(theta_s + 1.0, params)

  theta_s, same, moved = round_trip(2, 5)  # traced row indices
  assert theta_s.shape == (4 * 2,)
  jax.tree.map(np.testing.assert_array_equal, same, params)
  diff = jax.tree.map(lambda a, b: np.asarray(a != b), moved, params)
  assert diff["gmf_user"]["embedding"].any(axis=1).tolist() == [i == 2 for i in range(USERS)]
  assert diff["mlp_item"]["embedding"].any(axis=1).tolist() == [i == 5 for i in range(ITEMS)]
  assert not diff["output"]["kernel"].any()

  # The subset HVP is the subset block of the full Hessian.
  loss = _full_loss(model, data)
  subset = target_subset(model, 2, 5)
  index = np.asarray(subset.select(unravel(jnp.arange(theta.shape[0], dtype=jnp.float32))))
  index = index.astype(int)
  np.testing.assert_array_equal(np.asarray(theta)[index], np.asarray(theta_s))
  loss_s, theta_s = subset.restrict(loss, params)
  v = jax.random.normal(jax.random.PRNGKey(3), theta_s.shape)
  _assert_close(jax.jit(make_hvp(loss_s))(theta_s, v), full[np.ix_(index, index)] @ np.asarray(v))

  # ACCENT's NCF: 4 tables x 16 = 64 FIA parameters; MF: 2 x dim + 2 biases.
  accent = make_ncf(USERS, ITEMS)
  shapes = jax.eval_shape(accent.init, jax.random.PRNGKey(0))
  assert target_subset(accent, 1, 2).size(shapes) == 64
  mf = make_mf(USERS, ITEMS, dim=3)
  assert target_subset(mf, 1, 2).size(jax.eval_shape(mf.init, jax.random.PRNGKey(0))) == 8
  with pytest.raises(ValueError, match="no entry at path"):
    row_subset([(("gmf_usr", "embedding"), 0)]).select(params)


# --- inverse-HVP solvers -------------------------------------------------------------------


def test_cg_equals_explicit_inverse_and_vmaps():
  a, loss, unravel, template, bs = _spd_problem()
  hvp = lambda v: make_hvp(loss)(template, v)
  expected = np.linalg.solve(a + 0.1 * np.eye(len(a)), bs.T).T

  @jax.jit
  def solve_all(b):
    x, report = cg_solve(hvp, unravel(b), damping=0.1, tol=1e-6, max_iters=50)
    explicit = explicit_inverse_hvp(lambda t: loss(unravel(t)), jnp.zeros(len(a)), b,
                                    damping=0.1)
    lissa = lissa_solve(hvp, unravel(b), scale=10.0, damping=0.01, depth=400)
    return ravel_pytree(x)[0], report, explicit, ravel_pytree(lissa)[0]

  cg_x, reports, explicit_x, lissa_x = jax.jit(jax.vmap(solve_all))(jnp.asarray(bs))
  for k, b in enumerate(bs):
    loop = solve_all(jnp.asarray(b))
    for batched, single in zip((cg_x, explicit_x, lissa_x), (loop[0], loop[2], loop[3])):
      _assert_close(batched[k], single, rtol=1e-5)
  _assert_close(cg_x, expected, rtol=1e-4)
  _assert_close(explicit_x, expected, rtol=1e-4)
  # LiSSA's effective damping is scale * damping = 10 * 0.01 = 0.1.
  _assert_close(lissa_x, expected, rtol=1e-4)
  assert np.asarray(reports.converged).all() and check_converged(reports, on_fail="raise")
  assert (np.asarray(reports.iterations) <= len(a)).all()


@pytest.mark.parametrize("definite", [True, False])
def test_minres_solves_definite_and_indefinite_systems_where_cg_cannot(definite):
  rng = np.random.default_rng(5)
  n = 12
  basis, _ = np.linalg.qr(rng.normal(size=(n, n)))
  eigenvalues = np.linspace(0.5, 3.0, n) if definite else np.linspace(-2.0, 3.0, n)
  eigenvalues[np.abs(eigenvalues) < 0.3] = 0.3  # nonsingular
  a = (basis * eigenvalues) @ basis.T
  b = rng.normal(size=n)
  hvp = lambda v: jnp.asarray(a, jnp.float32) @ v
  b32 = jnp.asarray(b, jnp.float32)
  x, report = jax.jit(lambda b: minres_solve(hvp, b, damping=0.1, tol=1e-5, max_iters=60))(b32)
  expected = np.linalg.solve(a + 0.1 * np.eye(n), b)
  np.testing.assert_allclose(x, expected, rtol=1e-3, atol=1e-4)
  assert bool(report.converged) and int(report.iterations) <= n + 2
  true_residual = np.linalg.norm(b - (a + 0.1 * np.eye(n)) @ np.asarray(x)) / np.linalg.norm(b)
  assert true_residual < 1e-4 and float(report.residual_norm) < 1e-4
  _, cg_report = cg_solve(hvp, b32, damping=0.1, tol=1e-5, max_iters=60)
  assert bool(cg_report.converged) == definite  # CG breaks down on negative curvature
  batched, _ = jax.vmap(lambda b: minres_solve(hvp, b, damping=0.1, tol=1e-5,
                                               max_iters=60))(jnp.stack([b32, -b32]))
  np.testing.assert_allclose(batched[1], -batched[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["random", "zero_leading_pivot", "indefinite", "matrix_rhs"])
def test_gauss_solve_equals_numpy_solve(case):
  rng = np.random.default_rng(3)
  n = 7
  matrix = rng.normal(size=(n, n))
  if case == "zero_leading_pivot":  # needs a row swap at the first step
    matrix[0, 0] = 0.0
  if case == "indefinite":  # symmetric with eigenvalues of both signs, like FIA's NCF Hessians
    matrix = matrix + matrix.T
  rhs = rng.normal(size=(n, 3) if case == "matrix_rhs" else n)
  solved = jax.jit(gauss_solve)(jnp.asarray(matrix, jnp.float32), jnp.asarray(rhs, jnp.float32))
  assert solved.shape == rhs.shape
  np.testing.assert_allclose(solved, np.linalg.solve(matrix, rhs), rtol=1e-4, atol=1e-4)


def test_gauss_solve_vmaps_and_rejects_bad_shapes():
  rng = np.random.default_rng(4)
  matrices = rng.normal(size=(5, 4, 4)) + 4 * np.eye(4)
  rhs = rng.normal(size=(5, 4))
  solved = jax.vmap(gauss_solve)(jnp.asarray(matrices, jnp.float32), jnp.asarray(rhs, jnp.float32))
  np.testing.assert_allclose(solved, np.linalg.solve(matrices, rhs[..., None])[..., 0],
                             rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="square"):
    gauss_solve(jnp.ones((3, 4)), jnp.ones(3))


def test_lissa_undamped_converges_to_the_inverse():
  a, loss, unravel, template, bs = _spd_problem(seed=1)
  hvp = lambda v: make_hvp(loss)(template, v)
  x = jax.jit(lambda b: lissa_solve(hvp, unravel(b), scale=6.0, damping=0.0, depth=300))(bs[0])
  _assert_close(ravel_pytree(x)[0], np.linalg.solve(a, bs[0]), rtol=1e-4)


def test_cg_report_flags_non_convergence():
  _, loss, unravel, template, bs = _spd_problem()
  hvp = lambda v: make_hvp(loss)(template, v)
  _, report = jax.jit(lambda b: cg_solve(hvp, unravel(b), max_iters=1))(bs[0])
  assert not bool(report.converged) and int(report.iterations) == 1
  assert float(report.residual_norm) > 1e-3
  with pytest.warns(CGNotConvergedWarning, match="raise max_iters or damping"):
    assert not check_converged(report)
  with pytest.raises(CGNotConvergedError, match=r"after 1 iteration"):
    check_converged(report, on_fail="raise")
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    assert not check_converged(report, on_fail="ignore")
  # b = 0 converges at once with x = 0.
  x, zero_report = cg_solve(hvp, jax.tree.map(jnp.zeros_like, template))
  assert bool(zero_report.converged) and int(zero_report.iterations) == 0
  with pytest.raises(ValueError, match="more than max_size"):
    explicit_inverse_hvp(loss, jnp.zeros(20), jnp.zeros(20), max_size=10)


# --- influence on a prediction -------------------------------------------------------------


def test_score_change_matches_the_formula_and_solvers_agree(setups, data):
  """(1/n) grad f^T (H + lambda I)^{-1} grad L_z, with H and grads formed explicitly (NCF;
  MF is checked against exact retraining below)."""
  model, params, hessian, _, _ = setups("ncf")
  user, item = 1, 3
  rows = np.flatnonzero(np.asarray(data.user) == user)
  hessian = hessian.astype(np.float64)
  # Random params are far from an optimum: H is indefinite. Damp it to positive definite.
  damping = max(0.5, 0.5 - np.linalg.eigvalsh(hessian)[0])

  @jax.jit
  def gradients(rows):
    grad_f = jax.grad(lambda p: model.predict(p, jnp.array([user]), jnp.array([item]))[0])
    row_loss = lambda p, z: (model.row_losses(p, data.user[z][None], data.item[z][None],
                                              data.rating[z][None])[0] + model.penalty(p))
    grads = jax.vmap(lambda z: ravel_pytree(jax.grad(row_loss)(params, z))[0])(rows)
    return ravel_pytree(grad_f(params))[0], grads

  grad_f, grads = gradients(jnp.asarray(rows))
  s = np.linalg.solve(hessian + damping * np.eye(len(hessian)), np.asarray(grad_f, np.float64))
  expected = np.asarray(grads, np.float64) @ s / data.num_rows

  padded = np.concatenate([rows, [-1]])
  explicit = score_change_on_removal(model, params, data, user, item, padded,
                                     solver="explicit", damping=damping)
  _assert_close(explicit[:-1], expected, rtol=2e-4)
  assert explicit[-1] == 0.0
  cg = score_change_on_removal(model, params, data, user, item, padded, damping=damping,
                               tol=1e-6, max_iters=200, on_fail="raise")
  _assert_close(cg, explicit, rtol=1e-3)
  upweight = influence_on_prediction(model, params, data, user, item, padded, solver="explicit",
                                     damping=damping)  # same compiled call as `explicit`
  _assert_close(upweight[:-1], -data.num_rows * np.asarray(explicit[:-1]), rtol=1e-5)


def test_fia_subset_related_rows_vmap_over_targets(setups, data):
  """FIA mode: subset="target", hessian_rows="related"; vmapped over (user, item) targets."""
  model, params = setups("ncf")[:2]
  users, items = jnp.array([0, 2, 5]), jnp.array([1, 4, 7])
  rows = jnp.stack([jnp.flatnonzero(data.user == u, size=4) for u in users])
  damping = 0.3  # the related-rows subset Hessians have eigenvalues in [-0.14, 0.46] here

  explicit_fn = make_score_change_fn(model, solver="explicit", subset="target",
                                     hessian_rows="related", damping=damping)
  cg_fn = make_score_change_fn(model, solver="cg", subset="target", hessian_rows="related",
                               damping=damping, tol=1e-6, max_iters=100)
  lissa_fn = make_score_change_fn(model, solver="lissa", subset="target",
                                  hessian_rows="related", damping=damping, lissa_scale=1.0,
                                  lissa_depth=200)

  def by_hand(user, item, rows):
    """Explicit formula on the 8 subset parameters with the related-rows loss."""
    related = ((data.user == user) | (data.item == item)).astype(jnp.float32)
    subset = target_subset(model, user, item)
    loss_s, theta_s = subset.restrict(
        lambda p: weighted_loss(model, p, data.user, data.item, data.rating, related), params)
    h = explicit_hessian(loss_s, theta_s)
    gf = jax.grad(lambda t: model.predict(subset.embed(t, params), user[None],
                                          item[None])[0])(theta_s)
    row_loss = lambda t, z: (model.row_losses(subset.embed(t, params), data.user[z][None],
                                              data.item[z][None], data.rating[z][None])[0]
                             + model.penalty(subset.embed(t, params)))
    gz = jax.vmap(jax.grad(row_loss), in_axes=(None, 0))(theta_s, rows)
    s = jnp.linalg.solve(h + damping * jnp.eye(h.shape[0]), gf)
    return gz @ s / jnp.sum(related), jnp.sum(related)

  explicit, cg, lissa, (expected, counts) = jax.jit(jax.vmap(
      lambda u, i, r: (explicit_fn(params, data, u, i, r), cg_fn(params, data, u, i, r),
                       lissa_fn(params, data, u, i, r), by_hand(u, i, r))))(users, items, rows)
  _assert_close(explicit.score_change, expected, rtol=2e-4)
  np.testing.assert_array_equal(explicit.num_rows, counts)
  assert np.asarray(cg.report.converged).all()
  _assert_close(cg.score_change, explicit.score_change, rtol=1e-3)
  assert lissa.report is None
  _assert_close(lissa.score_change, explicit.score_change, rtol=1e-3)
  single = jax.jit(explicit_fn)(params, data, users[1], items[1], rows[1])  # vmap == loop
  _assert_close(explicit.score_change[1], single.score_change, rtol=1e-5)


def test_influence_predicts_leave_one_out_retraining():
  """MF with item parameters fixed: the loss is a strictly convex quadratic in the user
  parameters (ridge regression per user), so leave-one-out retraining has a closed form."""
  users, items, per_user, dim, l2 = 5, 20, 12, 2, 0.05
  rng = np.random.default_rng(7)
  user = np.repeat(np.arange(users), per_user)
  item = np.concatenate([rng.choice(items, per_user, replace=False) for _ in range(users)])
  rating = rng.integers(1, 6, len(user)).astype(np.float64)
  data = TrainData(jnp.asarray(user, jnp.int32), jnp.asarray(item, jnp.int32),
                   jnp.asarray(rating, jnp.float32))
  model = make_mf(users, items, dim=dim, l2=l2, global_mean=3.0)
  q = rng.normal(size=(items, dim))
  b_item = 0.3 * rng.normal(size=items)

  def ridge(rows):
    """Exact minimiser over (p_u, b_u) of sum_rows (r - mu - b_i - p.q_i - b_u)^2
    + l2 * |rows| * (|p_u|^2 + b_u^2), the rows' part of the MF loss."""
    x = np.concatenate([q[item[rows]], np.ones((len(rows), 1))], axis=1)
    y = rating[rows] - 3.0 - b_item[item[rows]]
    return np.linalg.solve(x.T @ x + l2 * len(rows) * np.eye(dim + 1), x.T @ y)

  theta = np.stack([ridge(np.flatnonzero(user == u)) for u in range(users)])
  params = {"item_bias": jnp.asarray(b_item, jnp.float32),
            "item_factors": jnp.asarray(q, jnp.float32), "mean": jnp.asarray(3.0),
            "user_bias": jnp.asarray(theta[:, dim], jnp.float32),
            "user_factors": jnp.asarray(theta[:, :dim], jnp.float32)}
  user_params = row_subset([(("user_factors",), None), (("user_bias",), None)])
  loss_s, theta_s = user_params.restrict(_full_loss(model, data), params)
  assert float(jnp.abs(jax.grad(loss_s)(theta_s)).max()) < 1e-5  # theta-hat is the optimum

  targets_u = np.repeat(np.arange(users), 3)
  targets_i = np.tile([0, 7, 13], users)
  rows = np.stack([np.flatnonzero(user == u) for u in targets_u])
  change = jax.jit(jax.vmap(make_score_change_fn(model, solver="explicit", subset=user_params),
                            in_axes=(None, None, 0, 0, 0)))(
      params, data, targets_u, targets_i, rows).score_change
  predicted, actual = [], []
  for k, (u, i) in enumerate(zip(targets_u, targets_i)):
    for z in range(per_user):
      new = ridge(np.delete(rows[k], z))  # exact retraining without row z
      actual.append(np.append(q[i], 1.0) @ (new - theta[u]))
      predicted.append(float(change[k, z]))
  correlation = np.corrcoef(predicted, actual)[0, 1]
  assert correlation > 0.95, correlation
  assert np.mean(np.sign(predicted) == np.sign(actual)) > 0.9
  # The host-side wrapper with a fixed ParamSubset and CG agrees; other users' rows give 0.
  cg_change = score_change_on_removal(model, params, data, 2, 7, rows[7], subset=user_params,
                                      on_fail="raise")
  _assert_close(cg_change, change[7], rtol=1e-3)
  other = score_change_on_removal(model, params, data, 2, 7, np.flatnonzero(user != 2)[:12],
                                  subset=user_params, on_fail="raise")
  assert np.abs(np.asarray(other)).max() < 1e-6
