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
def test_measure_reports_consistent_figures_of_the_same_models(tiny_workload, num_models):
  records = bench.measure(tiny_workload, num_models, methods=("engine", "sequential"),
                          chunk_size=64, repeats=2, loop_models=2)
  assert [r["method"] for r in records] == ["engine", "sequential"]
  for record in records:
    assert set(FIELDS) <= set(record), record["method"]
    assert (record["workload"], record["M"]) == ("tiny-mf", num_models)
    # The figure is the best of the timed runs, and the rates follow from it.
    assert record["seconds"] == min(record["all_seconds"])
    assert len(record["all_seconds"]) <= 2
    assert record["retrains_per_s"] == pytest.approx(num_models / record["seconds"])
    assert record["model_steps_per_s"] == pytest.approx(
        num_models * tiny_workload.steps / record["seconds"])
  engine, sequential = records
  assert engine["chunk_size"] == num_models and not engine["recompiled"]
  assert sequential["max_abs_diff_vs_engine"] < 1e-4  # the same models, trained two ways
  (ratio,) = bench.speedups(records)
  assert ratio["engine_vs_sequential"] == pytest.approx(
      engine["retrains_per_s"] / sequential["retrains_per_s"])
  assert ratio["engine_vs_torch"] is None
  assert bench.format_table(records).count("tiny-mf") == 2


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
  assert loaded["records"][0]["seconds"] == records[0]["seconds"]
  assert loaded["sizes"]["tiny-mf"]["num_rows"] == 80
  assert loaded["versions"]["jax"] and loaded["device"]["cpu_count"] >= 1
