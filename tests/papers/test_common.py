"""What the pipelines share: the cached original, checked configs, the workdir lock."""

import jax
import numpy as np
import pytest

from cfjax import util
from cfjax.data import make_synthetic
from cfjax.evaluate.results import DirectoryBusyError, ResultsDir
from cfjax.models import make_model
from cfjax.papers.common import engine_chunk_size, holds_workdir, trained_original
from cfjax.train import RetrainProtocol


@pytest.fixture(scope="module")
def setup():
  data = make_synthetic(num_users=10, num_items=12, seed=0)
  return data, make_model("mf", data, dim=2)


def same(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_the_original_is_cached_by_what_it_depends_on(setup, tmp_path):
  data, model = setup
  spec = RetrainProtocol(steps=4)
  first, info = trained_original(model, data, spec, cache_dir=tmp_path)
  assert not info["loaded"] and info["loss_trained"] < info["loss_at_init"]
  again, info = trained_original(model, data, spec, cache_dir=tmp_path)
  assert info["loaded"] and same(first.params, again.params)
  _, info = trained_original(model, data, RetrainProtocol(steps=5), cache_dir=tmp_path)
  assert not info["loaded"]  # another spec, another file


def test_a_damaged_cached_original_is_named_and_retrained(setup, tmp_path):
  data, model = setup
  spec = RetrainProtocol(steps=4)
  first, info = trained_original(model, data, spec, cache_dir=tmp_path)
  cached = tmp_path / info["cache"].split("/")[-1]
  cached.write_bytes(cached.read_bytes()[:-10])
  with pytest.warns(util.DamagedFileWarning, match=cached.name + " is damaged"):
    again, info = trained_original(model, data, spec, cache_dir=tmp_path)
  assert not info["loaded"] and same(first.params, again.params)
  _, info = trained_original(model, data, spec, cache_dir=tmp_path)
  assert info["loaded"]  # the rebuilt file is whole again


def test_a_code_change_does_not_reuse_a_cached_original(setup, tmp_path, monkeypatch):
  data, model = setup
  trained_original(model, data, RetrainProtocol(steps=4), cache_dir=tmp_path)
  monkeypatch.setattr(util, "source_hash", lambda: "other code")
  _, info = trained_original(model, data, RetrainProtocol(steps=4), cache_dir=tmp_path)
  assert not info["loaded"]


def test_pipelines_hold_their_workdir(tmp_path):
  calls = []
  run = holds_workdir(lambda config, workdir: calls.append(workdir) or "done")
  with ResultsDir(tmp_path / "out").locked():
    with pytest.raises(DirectoryBusyError):
      run({}, tmp_path / "out")
  assert run({}, tmp_path / "out") == "done" and calls == [tmp_path / "out"]


def test_engine_chunk_size():
  assert engine_chunk_size(8, None) == 8
  assert engine_chunk_size(None, 100) == 64
  with pytest.raises(ValueError, match=r"chunk_size \(models per engine call\)=0 must be >= 1"):
    engine_chunk_size(0, None)
