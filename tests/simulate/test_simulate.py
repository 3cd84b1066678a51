"""Simulation of counterfactual outcomes (Yao et al., Algorithm 2), its targets and its store."""

import json
import time

import numpy as np
import pytest

from cfjax.data.interactions import Interactions
from cfjax.models import make_mf
from cfjax.simulate import generate as sim, sampling, targets
from cfjax.simulate.store import StoreDamagedWarning
from cfjax.train import RetrainProtocol, to_train_data, train_original
from tests.conftest import TINY_ITEMS, TINY_USERS, tiny_rows


def test_targets_on_a_hand_made_example():
  original = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
  counterfactual = np.array([3.0, 4.5, 3.5, 2.0, 9.0])  # item 4 is seen: never ranked
  seen = np.array([False, False, False, False, True])
  out = {k: np.asarray(v) for k, v in targets.all_targets(original, counterfactual, seen,
                                                          np.array([0, 1])).items()}
  # unseen order: original 0,1,2,3; counterfactual 1,2,0,3.
  np.testing.assert_array_equal(out["rank"], [2, -1])      # eq. 11
  np.testing.assert_array_equal(out["clf"], [1, -1])       # eq. 4
  # eq. 3, scores min-max scaled over unseen items (min 2, max 4.5): item 0 -> 0.4,
  # benchmark at rank 1 is item 1 -> 1.0; item 1 (rank 2) vs item 2 (0.6).
  np.testing.assert_allclose(out["reg"], [0.6, -0.4], atol=1e-6)
  np.testing.assert_allclose(out["cross"], [1 - 3 / 4.5, 4 / 5 - 1.0], atol=1e-6)  # eq. 12


def test_unchanged_list_gives_zero_everywhere():
  scores = np.array([1.0, 3.0, 2.0, 0.5])
  seen = np.zeros(4, bool)
  out = targets.all_targets(scores, scores, seen, np.array([1, 2, 0]))
  for value in out.values():
    np.testing.assert_allclose(np.asarray(value), 0.0)


def test_subsets_are_deterministic_distinct_and_from_the_history():
  history = np.arange(10, 40)
  a = sampling.user_subsets(history, 7, count=50, seed=3)
  b = sampling.user_subsets(history, 7, count=50, seed=3)
  np.testing.assert_array_equal(a, b)
  assert a.shape == (50, 3) and len({tuple(r) for r in a}) == 50
  assert np.isin(a, history).all()
  assert not np.array_equal(a, sampling.user_subsets(history, 8, count=50, seed=3))
  small = sampling.user_subsets(np.arange(5), 0, count=100, seed=0)
  assert small.shape == (10, 3)  # all C(5, 3) subsets
  assert sampling.user_subsets(np.arange(10), 0, count=4, seed=0, size=None,
                               fraction=0.4).shape == (4, 4)


@pytest.fixture(scope="module")
def tiny_setup():
  user, item, rating = tiny_rows()
  train = Interactions(user, item, rating, TINY_USERS, TINY_ITEMS)
  model = make_mf(TINY_USERS, TINY_ITEMS, dim=4, learning_rate=0.05)
  original = train_original(model, to_train_data(train), RetrainProtocol(steps=5, seeds=(0,)))
  return model, train, original.params


CONFIG = sim.SimulationConfig(subsets_per_user=2, top_n=4, steps=5, block_size=2, seed=1)


class Kill(Exception):
  pass


def test_store_resumes_after_kills_without_loss_or_double_count(tiny_setup, tmp_path):
  model, train, params = tiny_setup
  users = [0, 3, 5]
  reference = sim.simulate(model, train, params, users, CONFIG, str(tmp_path / "ref"),
                           progress=False)
  assert reference.num_models == 6 and reference.targets["reg"].shape == (6, 4)

  def kill_after_block(block):
    if block == 0:
      raise Kill

  with pytest.raises(Kill):
    sim.simulate(model, train, params, users, CONFIG, str(tmp_path / "run"), progress=False,
                 after_block=kill_after_block)

  def kill_before_manifest(block):  # shard renamed, manifest not yet updated
    raise Kill

  with pytest.raises(Kill):
    sim.simulate(model, train, params, users, CONFIG, str(tmp_path / "run"), progress=False,
                 after_shard=kill_before_manifest)
  manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
  assert sorted(manifest["blocks"]) == ["0"]
  assert (tmp_path / "run" / "block_00001.npz").is_file()  # the orphan shard

  computed = []
  resumed = sim.simulate(model, train, params, users, CONFIG, str(tmp_path / "run"),
                         progress=False, after_block=computed.append)
  assert computed == [1, 2]
  assert resumed.num_models == reference.num_models
  np.testing.assert_array_equal(resumed.users, reference.users)
  np.testing.assert_array_equal(resumed.deleted_items, reference.deleted_items)
  for name in targets.DEFINITIONS:
    np.testing.assert_allclose(resumed.targets[name], reference.targets[name], atol=1e-6)
  again = []
  sim.simulate(model, train, params, users, CONFIG, str(tmp_path / "run"), progress=False,
               after_block=again.append)
  assert again == []  # a finished store retrains nothing


@pytest.mark.parametrize("damage", ["truncated", "empty", "altered", "deleted"])
def test_a_damaged_shard_is_named_and_simulated_again(tiny_setup, tmp_path, damage):
  model, train, params = tiny_setup
  users = [0, 3, 5]
  reference = sim.simulate(model, train, params, users, CONFIG, str(tmp_path / "s"),
                           progress=False)
  shard = tmp_path / "s" / "block_00001.npz"
  payload = shard.read_bytes()
  if damage == "deleted":
    shard.unlink()
  else:
    shard.write_bytes({"truncated": payload[:len(payload) // 2], "empty": b"",
                       "altered": payload[:-1] + bytes([payload[-1] ^ 1])}[damage])
  computed = []
  with pytest.warns(StoreDamagedWarning, match=r"block_00001.npz \(block 1\) is missing, "
                                               r"altered"):
    again = sim.simulate(model, train, params, users, CONFIG, str(tmp_path / "s"),
                         progress=False, after_block=computed.append)
  assert computed == [1]  # only the damaged block is retrained
  for name in targets.DEFINITIONS:
    np.testing.assert_allclose(again.targets[name], reference.targets[name], atol=1e-6)


def test_an_unreadable_manifest_starts_the_store_over(tiny_setup, tmp_path):
  model, train, params = tiny_setup
  sim.simulate(model, train, params, [0], CONFIG, str(tmp_path / "s"), progress=False)
  manifest = tmp_path / "s" / "manifest.json"
  manifest.write_text(manifest.read_text()[:40])
  computed = []
  with pytest.warns(StoreDamagedWarning, match=r"manifest.json is unreadable"):
    sim.simulate(model, train, params, [0], CONFIG, str(tmp_path / "s"), progress=False,
                 after_block=computed.append)
  assert computed == [0]


def test_store_refuses_another_plan(tiny_setup, tmp_path):
  model, train, params = tiny_setup
  sim.simulate(model, train, params, [0], CONFIG, str(tmp_path / "s"), progress=False)
  with pytest.raises(ValueError, match="another plan"):
    sim.simulate(model, train, params, [1], CONFIG, str(tmp_path / "s"), progress=False)


def test_large_fraction_deletions_are_drawn_without_stalling():
  history = np.arange(1000, 1250)
  start = time.perf_counter()
  subsets = sampling.user_subsets(history, 7, count=16, seed=0, size=None, fraction=0.4)
  assert subsets.shape == (16, 100) and time.perf_counter() - start < 5
  assert all(len(set(row)) == 100 and set(row) <= set(history) for row in subsets.tolist())
  assert len({tuple(r) for r in subsets.tolist()}) == 16
  small = sampling.user_subsets(history, 7, count=16, seed=0, size=3)  # e = 3 path unchanged
  rng = np.random.default_rng([sampling.SUBSET_SALT, 0, 7])
  np.testing.assert_array_equal(small, sampling.sample_subsets(history, 16, 3, rng))
