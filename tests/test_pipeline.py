"""The pipeline skeleton (`cfjax.pipeline`): the cached original, the engine chunk, the `Run`
(lock, record, resume, work dir, sections, one write)."""

import json

import jax
import numpy as np
import pytest

from cfjax import util
from cfjax.data import make_synthetic
from cfjax.evaluate.results import DirectoryBusyError, ResultsDir
from cfjax.models import make_model
from cfjax.pipeline import Run, engine_chunk_size, original_context, trained_original
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


def test_a_run_holds_its_workdir(tmp_path):
  with ResultsDir(tmp_path / "out").locked():
    with pytest.raises(DirectoryBusyError):
      with Run.held(tmp_path / "out"):
        pass
  with Run.held(tmp_path / "out") as run:
    assert run.path == tmp_path / "out"
  assert not (tmp_path / "out").exists()  # created and left empty: removed again


def test_a_run_records_times_writes_and_resumes(tmp_path):
  record = {"config": {"a": 1}, "code": {"source_sha256": "x"}}
  with Run.held(tmp_path / "out") as run:
    assert run.finished(record) is None
    work = run.work_dir()
    (work / "part.txt").write_text("kept")
    with run.section("step_s"):
      pass
    table = run.write(table={"cells": {1: 2}}, markdown="| a |\n", metrics={"m": 3},
                      timings={"other_s": 1.5})
  assert table == {"cells": {"1": 2}}  # as table.json holds it
  written = json.loads((tmp_path / "out" / "config.json").read_text())
  assert set(written["timings"]) == {"step_s", "other_s", "total_s"}
  assert written["metrics"]["m"] == 3 and written["config"] == {"a": 1}
  with Run.held(tmp_path / "out") as again:
    assert again.finished(record) == table  # the same record: finished, nothing to redo
    assert (again.work_dir() / "part.txt").read_text() == "kept"
    assert again.finished({**record, "config": {"a": 2}}) is None
    assert not (again.work_dir() / "part.txt").exists()  # other settings: emptied


def test_original_context_is_the_cached_original(setup, tmp_path):
  data, model = setup
  ctx, info = original_context(model, data, RetrainProtocol(steps=4), cache_dir=tmp_path)
  state, again = trained_original(model, data, RetrainProtocol(steps=4), cache_dir=tmp_path)
  assert again["loaded"] and not info["loaded"] and same(ctx.params, state.params)
  assert ctx.original is not None and ctx.spec == RetrainProtocol(steps=4)


def test_engine_chunk_size():
  assert engine_chunk_size(8, None) == 8
  assert engine_chunk_size(None, 100) == 64
  with pytest.raises(ValueError, match=r"chunk_size \(models per engine call\)=0 must be >= 1"):
    engine_chunk_size(0, None)
