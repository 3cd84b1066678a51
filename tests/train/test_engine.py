"""The engine's contract: exact no-op deletions, eq. 1 equivalence, paired seeds, one compile."""

import json
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.train import (RetrainProtocol, deleted_weights, fit, init_state, pad_deletions,
                         retrain, seed_keys, state_readout, trace_count, train_original,
                         train_original_exact)

STEPS = 15
SETTINGS = {"mf_full_batch": ("tiny_mf", None), "ncf_minibatch": ("tiny_ncf", 16)}


@pytest.fixture(params=sorted(SETTINGS), scope="module")
def setting(request):
  model_fixture, batch_size = SETTINGS[request.param]
  return request.getfixturevalue(model_fixture), batch_size


def _stack(tree, count):
  return jax.tree.map(lambda leaf: np.stack([np.asarray(leaf)] * count), tree)


def test_deleting_nothing_reproduces_the_original_exactly_scratch(setting, tiny_data):
  model, batch_size = setting
  original = train_original_exact(model, tiny_data,
                                  RetrainProtocol(steps=STEPS, batch_size=batch_size, seeds=(3,),
                                                  chunk_size=4))
  result = retrain(model, tiny_data, np.full((6, 2), -1),
                   RetrainProtocol(steps=STEPS, batch_size=batch_size, seeds=[3], chunk_size=4),
                   progress=False)
  chex.assert_trees_all_equal(result.outputs, jax.tree.map(lambda x: x[:, None],
                                                           _stack(original.params, 6)))
  alone = train_original(model, tiny_data,
                         RetrainProtocol(steps=STEPS, batch_size=batch_size, seeds=(3,)))
  chex.assert_trees_all_close(original.params, alone.params, atol=1e-5, rtol=1e-5)


def test_deleting_nothing_reproduces_the_original_exactly_warm(setting, tiny_data):
  model, batch_size = setting
  original = train_original(model, tiny_data,
                            RetrainProtocol(steps=STEPS, batch_size=batch_size, seeds=(1,)))
  unchanged = retrain(model, tiny_data, np.full((3, 1), -1),
                      RetrainProtocol(steps=0, batch_size=batch_size, seeds=[5, 6], kind="warm",
                                      chunk_size=2),
                      original=original, readout=state_readout, progress=False)
  chex.assert_trees_all_equal(unchanged.outputs,
                              jax.tree.map(lambda x: np.stack([x, x], 1), _stack(original, 3)))
  continued = retrain(model, tiny_data, np.full((3, 1), -1),
                      RetrainProtocol(steps=STEPS, batch_size=batch_size, seeds=[5], kind="warm",
                                      chunk_size=2),
                      original=original, control=True, progress=False)
  chex.assert_trees_all_equal(continued.outputs,
                              jax.tree.map(lambda x: np.stack([x] * 3), continued.control))
  # The warm start continues the optimizer state too: compare with one model continued alone.
  _, order_key = seed_keys(5)
  alone = jax.jit(lambda state: fit(model, tiny_data, jnp.ones(tiny_data.num_rows),
                                    state=state, order_key=order_key, steps=STEPS,
                                    batch_size=batch_size))(original)
  chex.assert_trees_all_close(jax.tree.map(lambda x: x[0], continued.control), alone.params,
                              atol=1e-5, rtol=1e-5)


def test_full_batch_deletion_equals_training_without_the_rows(tiny_mf, tiny_data):
  deleted = np.array([[0, 7, 30], [5, -1, -1]])
  result = retrain(tiny_mf, tiny_data, deleted,
                   RetrainProtocol(steps=STEPS, seeds=[2], chunk_size=2), progress=False)
  init_key, order_key = seed_keys(2)
  for m, rows in enumerate(deleted):
    keep = np.setdiff1d(np.arange(tiny_data.num_rows), rows[rows >= 0])
    reduced = jax.tree.map(lambda x: x[keep], tiny_data)
    alone = fit(tiny_mf, reduced, jnp.ones(len(keep)), state=init_state(tiny_mf, init_key),
                order_key=order_key, steps=STEPS)
    chex.assert_trees_all_close(jax.tree.map(lambda x: x[m, 0], result.outputs),
                                alone.params, atol=2e-5, rtol=2e-5)


def test_deletions_change_the_model_and_seeds_are_paired(tiny_mf, tiny_data):
  result = retrain(tiny_mf, tiny_data, np.array([[-1], [3]]),
                   RetrainProtocol(steps=STEPS, seeds=[0, 1], chunk_size=2), progress=False)
  factors = result.outputs["user_factors"]
  assert not np.array_equal(factors[0, 0], factors[1, 0])  # the deletion changes the model
  assert not np.array_equal(factors[0, 0], factors[0, 1])  # another seed, another init
  again = retrain(tiny_mf, tiny_data, np.array([[-1], [3]]),
                  RetrainProtocol(steps=STEPS, seeds=[0, 1], chunk_size=2), progress=False)
  chex.assert_trees_all_equal(result.outputs, again.outputs)  # same seed, same result


def test_hot_path_compiles_once_across_chunks(tiny_mf, tiny_data):
  rows = pad_deletions([[i] for i in range(7)])
  retrain(tiny_mf, tiny_data, rows[:2], RetrainProtocol(steps=3, seeds=[0], chunk_size=2),
          progress=False)
  before = trace_count()
  result = retrain(tiny_mf, tiny_data, rows, RetrainProtocol(steps=3, seeds=[0], chunk_size=2),
                   progress=False)
  assert trace_count() == before  # 4 chunks (the last one padded), no new compile
  assert result.outputs["mean"].shape == (7, 1)


def test_readout_runs_on_device_with_per_model_arguments(tiny_mf, tiny_data):
  users = np.array([0, 3, 5], dtype=np.int32)
  result = retrain(tiny_mf, tiny_data, np.full((3, 1), -1),
                   RetrainProtocol(steps=3, seeds=[0, 4], chunk_size=2), readout=_user_scores,
                   readout_args=users, progress=False)
  assert result.outputs.shape == (3, 2, tiny_mf.num_items)
  params = retrain(tiny_mf, tiny_data, np.full((1, 1), -1),
                   RetrainProtocol(steps=3, seeds=[0], chunk_size=2), progress=False).outputs
  expected = tiny_mf.scores(jax.tree.map(lambda x: x[0, 0], params), jnp.asarray(users))
  np.testing.assert_allclose(result.outputs[:, 0], expected, rtol=1e-5, atol=1e-5)


def _user_scores(params, user):
  return _READOUT_MODEL.scores(params, user[None])[0]


_READOUT_MODEL = None


@pytest.fixture(autouse=True, scope="module")
def _bind_readout_model(tiny_mf):
  global _READOUT_MODEL
  _READOUT_MODEL = tiny_mf


def test_deleted_weights_and_padding():
  weights = deleted_weights(jnp.array([2, -1, 0]), 5)
  np.testing.assert_array_equal(weights, [0, 1, 0, 1, 1])
  np.testing.assert_array_equal(pad_deletions([[1, 2], [], [4]]), [[1, 2], [-1, -1], [4, -1]])


@pytest.mark.parametrize("kwargs, message", [
    (dict(deleted_rows=np.zeros(3)), "int\\[M, R\\]"),
    (dict(deleted_rows=np.array([[10_000]])), "rows"),
    (dict(deleted_rows=np.array([[-2]])), "padding"),
    (dict(deleted_rows=np.array([[0]]), kind="hot"), "kind"),
    (dict(deleted_rows=np.array([[0]]), kind="warm"), "original="),
    (dict(deleted_rows=np.array([[0]]), seeds=[]), "seed"),
])
def test_bad_arguments_get_one_line_errors(tiny_mf, tiny_data, kwargs, message):
  kwargs = {"seeds": [0], **kwargs}
  with pytest.raises(ValueError, match=message) as error:
    fields = {name: kwargs.pop(name) for name in ("seeds", "kind") if name in kwargs}
    retrain(tiny_mf, tiny_data, kwargs.pop("deleted_rows"), RetrainProtocol(steps=1, **fields),
            progress=False, **kwargs)
  assert "\n" not in str(error.value)


_SHARDED_SCRIPT = """
import json, sys, numpy as np, jax
sys.path.insert(0, {root!r})
from tests.conftest import tiny_rows
from cfjax.models import make_mf
from cfjax.train import RetrainProtocol, TrainData, retrain
import jax.numpy as jnp
user, item, rating = tiny_rows()
data = TrainData(jnp.asarray(user), jnp.asarray(item), jnp.asarray(rating))
model = make_mf(12, 15, dim=4, learning_rate=0.05)
out = retrain(model, data, np.array([[-1], [3], [4], [7], [9]]),
              RetrainProtocol(steps=10, seeds=(0, 1), chunk_size=4), progress=False).outputs
print(json.dumps({{"devices": jax.device_count(),
                   "factors": np.asarray(out["user_factors"]).tolist()}}))
"""


@pytest.mark.parametrize("device_count", [1, 4])
def test_sharded_result_equals_unsharded(device_count, tiny_mf, tiny_data):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={device_count}",
             JAX_PLATFORMS="cpu")
  completed = subprocess.run([sys.executable, "-c", _SHARDED_SCRIPT.format(root=root)],
                             capture_output=True, text=True, env=env, check=True)
  report = json.loads(completed.stdout.strip().splitlines()[-1])
  assert report["devices"] == device_count
  unsharded = retrain(tiny_mf, tiny_data, np.array([[-1], [3], [4], [7], [9]]),
                      RetrainProtocol(steps=10, seeds=[0, 1], chunk_size=4), progress=False).outputs
  np.testing.assert_allclose(np.asarray(report["factors"]), unsharded["user_factors"],
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("vector_width", [1, 3])
def test_vector_width_only_changes_how_a_chunk_is_vectorised(tiny_mf, tiny_data, vector_width):
  rows = np.array([[-1], [3], [4], [5]])
  whole = retrain(tiny_mf, tiny_data, rows, RetrainProtocol(steps=5, seeds=[0, 1], chunk_size=4),
                  vector_width=4, progress=False).outputs
  grouped = retrain(tiny_mf, tiny_data, rows, RetrainProtocol(steps=5, seeds=[0, 1], chunk_size=4),
                    vector_width=vector_width, progress=False).outputs
  chex.assert_trees_all_close(whole, grouped, atol=1e-6, rtol=1e-6)


def test_control_reads_out_with_its_own_argument(tiny_mf, tiny_data):
  users = np.array([0, 3], dtype=np.int32)
  result = retrain(tiny_mf, tiny_data, np.array([[-1], [-1]]),
                   RetrainProtocol(steps=3, seeds=[0], chunk_size=2), readout=_user_scores,
                   readout_args=users, control=True, control_args=np.int32(5), progress=False)
  alone = retrain(tiny_mf, tiny_data, np.array([[-1]]),
                  RetrainProtocol(steps=3, seeds=[0], chunk_size=2), readout=_user_scores,
                  readout_args=np.array([5], np.int32), progress=False)
  np.testing.assert_array_equal(result.control, alone.outputs[0])
  with pytest.raises(ValueError, match="control_args"):
    retrain(tiny_mf, tiny_data, np.array([[-1]]), RetrainProtocol(steps=3, seeds=[0]),
            readout=_user_scores, readout_args=users[:1], control=True, progress=False)


@pytest.mark.parametrize("batch_size", [None, 30])
def test_within_one_call_deleting_nothing_is_bitwise_the_control(tiny_mf, tiny_data,
                                                                 batch_size):
  """The paired promise that every table relies on: under each of several seeds, the model
  deleting nothing equals the control of the same call to the bit."""
  result = retrain(tiny_mf, tiny_data, np.array([[3, 4], [-1, -1], [7, -1]]),
                   RetrainProtocol(steps=4, batch_size=batch_size, seeds=[0, 1, 2], chunk_size=2),
                   control=True, progress=False)
  for s in range(3):
    chex.assert_trees_all_equal(jax.tree.map(lambda leaf: leaf[1, s], result.outputs),
                                jax.tree.map(lambda leaf: leaf[s], result.control))
  assert not np.array_equal(result.outputs["user_factors"][0, 0],
                            result.outputs["user_factors"][1, 0])  # a deletion does differ


def test_exact_original_matches_vmapped_minibatch_chunks_bitwise():
  """A one-model chunk is another compiled program than a vmapped chunk of C models; the
  exact original must come from a full chunk (else paired NCF verification drifts)."""
  from cfjax.data.synthetic import make_synthetic
  from cfjax.models import make_model
  from cfjax.train import to_train_data
  train = make_synthetic(num_users=40, num_items=60, dim=4, density=0.3, seed=0)
  model = make_model("ncf", train, weight_decay=1e-4, learning_rate=1e-2)
  data = to_train_data(train)
  original = train_original_exact(model, data,
                                  RetrainProtocol(steps=200, batch_size=64, seeds=(0,),
                                                  chunk_size=8))
  result = retrain(model, data, np.full((8, 3), -1),
                   RetrainProtocol(steps=200, batch_size=64, seeds=[0], chunk_size=8),
                   readout=state_readout, progress=False)
  chex.assert_trees_all_equal(jax.tree.map(lambda x: x[5, 0], result.outputs.params),
                              original.params)
