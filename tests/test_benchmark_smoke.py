"""Smoke test of benchmarks/retrains_per_sec.py on tiny synthetic sizes (a few seconds)."""

import json

import numpy as np
import pytest

from benchmarks import retrains_per_sec as bench
from benchmarks import torch_reference
from cfjax.models import make_mf

FIELDS = ("workload", "M", "method", "seconds", "retrains_per_s", "model_steps_per_s",
          "all_seconds", "warmup_seconds", "timed_models", "extrapolated", "load_avg_1m")


@pytest.fixture(scope="module")
def tiny_workload():
  rng = np.random.default_rng(0)
  users, items, rows = 10, 12, 80
  pairs = rng.choice(users * items, rows, replace=False)
  user, item = np.divmod(pairs, items)
  rating = rng.integers(1, 6, rows).astype(np.float32)
  model = make_mf(users, items, dim=4, global_mean=float(rating.mean()))
  return bench.Workload("tiny-mf", model, user.astype(np.int32), item.astype(np.int32),
                        rating, steps=3, batch_size=None)


@pytest.mark.parametrize("num_models", [1, 2])
def test_measure_returns_complete_positive_records(tiny_workload, num_models):
  records = bench.measure(tiny_workload, num_models, chunk_size=64, repeats=2, loop_models=2)
  methods = [r["method"] for r in records]
  assert methods == ["engine", "sequential", "torch"]
  for record in records:
    for field in FIELDS[:6]:
      assert field in record, (record["method"], field)
    assert record["workload"] == "tiny-mf" and record["M"] == num_models
    if record["method"] == "torch" and not torch_reference.available():
      assert record["seconds"] is None
      continue
    for field in FIELDS:
      assert field in record, (record["method"], field)
    assert record["seconds"] > 0 and record["retrains_per_s"] > 0
    assert record["model_steps_per_s"] == pytest.approx(
        num_models * tiny_workload.steps / record["seconds"])
    assert all(t > 0 for t in record["all_seconds"])
  engine, sequential = records[0], records[1]
  assert engine["chunk_size"] == num_models
  assert not engine["recompiled"]
  assert sequential["max_abs_diff_vs_engine"] < 1e-4  # the same models, trained two ways
  ratios = bench.speedups(records)
  assert ratios[0]["engine_vs_sequential"] > 0
  assert bench.format_table(records).count("tiny-mf") == 3


def test_torch_missing_gives_a_null_record(tiny_workload, monkeypatch):
  monkeypatch.setattr(torch_reference, "torch", None)
  (record,) = bench.measure(tiny_workload, 1, methods=("torch",), repeats=1)
  assert record["seconds"] is None and record["retrains_per_s"] is None
  assert record["skipped"] == torch_reference.SKIP_MESSAGE
  assert bench.speedups([record])[0]["engine_vs_torch"] is None


def test_write_json_round_trips(tiny_workload, tmp_path):
  records = bench.measure(tiny_workload, 1, methods=("engine",), repeats=1)
  payload = dict(records=records, speedups=bench.speedups(records),
                 sizes={tiny_workload.name: tiny_workload.sizes()}, **bench.environment())
  path = bench.write_json(payload, tmp_path / "out" / "retrains_per_sec.json")
  loaded = json.loads(path.read_text())
  assert loaded["records"][0]["method"] == "engine"
  assert loaded["records"][0]["seconds"] > 0
  assert loaded["sizes"]["tiny-mf"]["num_rows"] == 80
  assert loaded["versions"]["jax"] and loaded["device"]["cpu_count"] >= 1
