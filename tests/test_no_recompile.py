"""A second batch of the same shape must not compile again: the engine's chunks, batched
influences, LCER's chunks of pairs and metagradients' chunks of targets.

Compiles are counted through JAX's public monitoring hook: every XLA backend compile records
the event `BACKEND_COMPILE` (a cache hit records nothing)."""

import contextlib

import secrets

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cfjax.data.interactions import Interactions
from cfjax.explain import metagrad as mg
from cfjax.explain.lcer import (dense_item_score, explain_in_chunks, make_lcer, pad_histories,
                                pair_keys)
from cfjax.influence.batched import related_influences
from cfjax.train import (RetrainProtocol, init_state, pad_deletions, retrain, seed_keys,
                         train_original, user_scores_readout)
from tests.conftest import TINY_ITEMS, TINY_USERS, tiny_rows

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def compiles():
  """Counts XLA compiles inside the block: `with compiles() as count: ...; count[0]`."""
  count = [0]

  def listener(event, duration, **kwargs):
    del duration, kwargs
    if event == BACKEND_COMPILE:
      count[0] += 1

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield count
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)


def test_the_counter_sees_a_new_shape_compile():
  """The counter can fail: a jitted function on a shape it never saw compiles once. The
  shape is new to every run, so the tests' persistent compilation cache (conftest.py) cannot
  answer it from disk."""
  double = jax.jit(lambda x: 2 * x + 1)
  size = 1000 + secrets.randbelow(10**6)
  with compiles() as count:
    double(jnp.zeros(size))
  assert count[0] >= 1
  with compiles() as count:
    double(jnp.ones(size))
  assert count[0] == 0


def test_retraining_a_second_chunk_of_the_same_shape_does_not_compile(tiny_mf, tiny_data):
  protocol = RetrainProtocol(steps=3, seeds=(0, 1), chunk_size=2)
  readout = user_scores_readout(tiny_mf)
  users = np.arange(6, dtype=np.int32)
  retrain(tiny_mf, tiny_data, pad_deletions([[1], [2]]), protocol, readout=readout,
          readout_args=users[:2], progress=False)
  with compiles() as count:  # 3 chunks (the last one padded), other rows, other seeds
    result = retrain(tiny_mf, tiny_data, pad_deletions([[3], [4], [5], [6], [7]]),
                     protocol.with_seeds([4, 5]), readout=readout, readout_args=users[:5],
                     progress=False)
  assert count[0] == 0
  assert result.outputs.shape == (5, 2, TINY_ITEMS)


@pytest.fixture(scope="module")
def trained_mf(tiny_mf, tiny_data):
  user, item, rating = tiny_rows()
  train = Interactions(user, item, rating, TINY_USERS, TINY_ITEMS)
  original = train_original(tiny_mf, tiny_data, RetrainProtocol(steps=10))
  return train, original


def _unseen(train, user):
  return int(np.setdiff1d(np.arange(TINY_ITEMS), train.history_items(user))[0])


def test_batched_influences_of_other_pairs_of_the_same_shape_do_not_compile(tiny_mf,
                                                                            trained_mf):
  train, original = trained_mf
  width = 5  # every tiny user has >= 5 rows: the same padded shape for any pair

  def influences(users):
    rows = np.stack([train.history_rows(int(u))[:width] for u in users])
    targets = np.asarray([_unseen(train, int(u)) for u in users])
    return related_influences(tiny_mf, original.params, train, rows, np.asarray(users),
                              targets, damping=1e-3, targets_per_batch=2, item_width=TINY_USERS)

  influences([0, 1, 2])
  with compiles() as count:
    second = influences([3, 4, 5])
  assert count[0] == 0
  assert second.shape == (3, width) and np.isfinite(second).all()


def test_lcer_chunks_of_other_pairs_of_the_same_shape_do_not_compile():
  rng = np.random.default_rng(0)
  items = 6
  params = {"w": jnp.asarray(rng.normal(size=(items, items)), jnp.float32),
            "b": jnp.zeros(items)}
  rows = (rng.random((7, items)) < 0.6).astype(np.float32)
  rows[:, 0] = 1.0
  hist, mask = pad_histories(rows)
  targets = rng.integers(0, items, 7)
  margins = rng.normal(size=7).astype(np.float32)
  keys = pair_keys(jax.random.key(3), 7)
  explain = make_lcer(dense_item_score(lambda p, x: x @ p["w"] + p["b"], items), lam=0.05,
                      alpha=0.1, steps=5, learning_rate=0.05)
  explain_in_chunks(explain, params, hist, mask, targets, margins, keys, targets_per_batch=2)
  other = rng.permutation(7)  # other pairs in the same 4 chunks of 2 (the last padded)
  with compiles() as count:
    result = explain_in_chunks(explain, params, hist[other], mask[other], targets[other],
                               -margins, keys, targets_per_batch=2)
  assert count[0] == 0
  assert result.removed.shape == mask.shape


def test_metagradients_of_more_targets_in_same_size_chunks_do_not_compile(tiny_mf, tiny_data,
                                                                         trained_mf):
  train, _ = trained_mf
  init_key, order_key = seed_keys(0)
  traj = mg.trajectory(tiny_mf, tiny_data, start=init_state(tiny_mf, init_key),
                       order_key=order_key, steps=4, batch_size=None)
  users = np.arange(7)
  targets = np.asarray([_unseen(train, int(u)) for u in users])
  mg.metagradients(tiny_mf, traj, users[:2], targets[:2], -np.ones(2), targets_per_batch=2)
  with compiles() as count:  # 4 chunks of 2 targets (the last padded)
    grads = mg.metagradients(tiny_mf, traj, users, targets, -np.ones(7), targets_per_batch=2)
  assert count[0] == 0
  assert grads.shape == (7, tiny_data.num_rows)
