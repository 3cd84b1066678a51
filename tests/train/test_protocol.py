"""The retraining protocol value: checked when built, derived by name, one chunk rule."""

import dataclasses

import jax
import numpy as np
import pytest

from cfjax.train import (Convergence, RetrainProtocol, models_per_call, retrain, train_original,
                         train_original_exact)


@pytest.mark.parametrize("fields, message", [
    (dict(steps=-1), "steps=-1 must be >= 0"),
    (dict(steps=2.5), "steps must be an integer"),
    (dict(steps=1, seeds=()), "seeds is empty"),
    (dict(steps=1, seeds=3), "must be a sequence of ints"),
    (dict(steps=1, seeds=(0, -1)), "seed=-1 must be >= 0"),
    (dict(steps=1, seeds=(0.5,)), "seed must be an integer"),
    (dict(steps=1, kind="hot"), "kind='hot' must be one of scratch, warm, rescore"),
    (dict(steps=1, batch_size=0), "batch_size=0 must be >= 1"),
    (dict(steps=1, chunk_size=0), "chunk_size=0 must be >= 1"),
    (dict(steps=1, until=5), "must be a cfjax.train.Convergence"),
    (dict(steps=1, batch_size=8, until=Convergence()), "needs full batches"),
])
def test_bad_protocols_get_one_line_errors(fields, message):
  with pytest.raises(ValueError, match=message) as error:
    RetrainProtocol(**fields)
  assert "\n" not in str(error.value)


def test_derived_protocols_keep_the_paired_seed_first():
  spec = RetrainProtocol(steps=7, batch_size=16, seeds=[3, 9])
  assert spec.seeds == (3, 9) and spec.seed == 3 and spec.name == "scratch"
  assert spec.paired() == RetrainProtocol(steps=7, batch_size=16, seeds=(3,))
  assert spec.with_seed_offsets([0, 1, 2]).seeds == (3, 4, 5)
  assert spec.with_seeds([4]).seed == 4
  assert spec.with_steps(2) == RetrainProtocol(steps=2, batch_size=16, seeds=(3, 9))
  warm = spec.continued(5, seeds=range(2), batch_size=None)
  assert (warm.kind, warm.steps, warm.seeds, warm.batch_size) == ("warm", 5, (0, 1), None)
  assert spec.continued(5).batch_size == 16
  converged = spec.continued(0, batch_size=None).converging(Convergence(tol=1e-4))
  assert converged.name == "warm-converged"
  assert spec.with_chunk_size(4).models_per_call == 4
  assert hash(spec) == hash(dataclasses.replace(spec))  # frozen, hashable
  with pytest.raises(dataclasses.FrozenInstanceError):
    spec.steps = 3


def test_one_rule_decides_models_per_engine_call():
  assert models_per_call(5, None) == 5 and models_per_call(5, 32) == 5
  assert models_per_call(None, 32) == 64
  assert models_per_call(None, None) == (1 if jax.default_backend() == "cpu" else 64)
  assert RetrainProtocol(steps=1).models_per_call == models_per_call(None, None)
  with pytest.raises(ValueError, match="chunk_size .* must be >= 1"):
    models_per_call(0, None)


def test_an_original_is_trained_under_a_scratch_protocol(tiny_mf, tiny_data):
  warm = RetrainProtocol(steps=3, kind="warm")
  for train in (train_original, train_original_exact):
    with pytest.raises(ValueError, match="not under the 'warm' protocol"):
      train(tiny_mf, tiny_data, warm)
    with pytest.raises(ValueError, match="must be a cfjax.train.RetrainProtocol"):
      train(tiny_mf, tiny_data, 3)
  with pytest.raises(ValueError, match="batch_size=1000 must lie in"):
    train_original(tiny_mf, tiny_data, RetrainProtocol(steps=3, batch_size=1000))
  with pytest.raises(ValueError, match="use cfjax.evaluate.rescore"):
    retrain(tiny_mf, tiny_data, np.array([[-1]]), RetrainProtocol(steps=1, kind="rescore"))


def test_the_paired_protocol_reproduces_its_exact_original(tiny_mf, tiny_data):
  spec = RetrainProtocol(steps=4, seeds=(2, 5), chunk_size=2)
  original = train_original_exact(tiny_mf, tiny_data, spec)
  result = retrain(tiny_mf, tiny_data, np.array([[-1], [-1]]), spec.paired(), progress=False)
  for name, leaf in original.params.items():
    np.testing.assert_array_equal(result.outputs[name][1, 0], leaf)
