"""cfjax.compare: the benchmark's leaderboard in one call, and tables that print statistics only
where there are enough targets for them."""

import numpy as np
import pytest

import cfjax
from cfjax.data import make_synthetic
from cfjax.evaluate import comparison, verify
from cfjax.evaluate import leaderboard as lb
from cfjax.explain import ExplainContext, get_explainer, top1_targets
from cfjax.models import make_mf
from cfjax.pipeline import trained_original
from cfjax.train import RetrainProtocol
from cfjax.workflows import benchmark
from cfjax.experiments.configs.benchmark import get_config

USERS = 12  # >= significance.MIN_TARGETS: the markdown shows intervals


@pytest.fixture(scope="module")
def tiny():
  data = make_synthetic(num_users=20, num_items=30, density=0.3, seed=2)
  model = make_mf(data.num_users, data.num_items, dim=4, global_mean=3.0)
  spec = RetrainProtocol(steps=30)
  original, _ = trained_original(model, data, spec)
  ctx = ExplainContext.from_original(model, data, original, spec)
  return ctx, top1_targets(ctx, np.arange(USERS))


def test_compare_gives_the_benchmarks_table_for_the_same_records(tiny, tmp_path, caplog):
  ctx, targets = tiny
  protocol = RetrainProtocol(steps=30, chunk_size=16)
  with caplog.at_level("WARNING"):
    ours = cfjax.compare([get_explainer("knn", e=1), "fia"], ctx, targets, protocol=protocol,
                         seed=0, progress=False)
  # the benchmark's own pipeline on the same cell: explain_all, controls, verified_by_protocol
  config = get_config("smoke")
  config.update(dict(methods=("knn", "fia"), budgets=(1,), ks=(1,), seed=0))
  run = lambda records: verify(records, model=ctx.model, train=ctx.train, original=ctx.original,
                               protocol=protocol, ks=[1], progress=False)
  cell = benchmark.Cell("synthetic", "mf", ctx, targets, {"p": run},
                        {"protocols": {"p": {"kind": "scratch"}}})
  records, _ = benchmark.explain_all(config, cell)
  _, rows = benchmark.verified_by_protocol(
      config, cell, comparison.with_controls(records, ctx, targets, 0), tmp_path)
  theirs = [{k: v for k, v in r.items() if k not in ("dataset", "model", "protocol")}
            for r in rows]
  assert [{k: v for k, v in r.items() if k != "seconds_per_explanation"}
          for r in ours.table] == theirs
  assert all(r["seconds_per_explanation"] > 0 for r in ours.table)
  assert {(r["method"], r["budget"]) for r in ours.table} == {("knn", "e=1"), ("fia", "own")}
  assert all(r["placebo_net_validity"] is not None for r in ours.table if r["found"])
  assert {v.explanation.method for v in ours.verified} >= {"knn", "placebo_knn", "none"}
  assert list(ours.to_pandas()["method"]) == [r["method"] for r in ours.table]
  text = ours.markdown()
  assert "| knn | e=1 | " in text and text.count("**Legend.**") == 1
  assert "too small" not in text  # 12 targets: intervals are shown
  found = {r["method"]: r["found"] for r in ours.table}
  for method, count in found.items():  # a target without an explanation is announced
    assert (f"kept {count} of {USERS} records" in caplog.text) == (count < USERS), method


def test_compare_rejects_controls_and_repeats(tiny):
  ctx, targets = tiny
  protocol = RetrainProtocol(steps=30)
  with pytest.raises(ValueError, match=r"appear twice"):
    cfjax.compare(["knn", "knn"], ctx, targets, protocol=protocol)
  with pytest.raises(ValueError, match=r"controls compare adds itself"):
    cfjax.compare(["none"], ctx, targets, protocol=protocol)
  with pytest.raises(ValueError, match=r"list of explainers"):
    cfjax.compare("knn", ctx, targets, protocol=protocol)


def row(targets: int) -> dict:
  return {"method": "knn", "budget": "e=1", "targets": targets, "found": targets,
          "mean_size": 1.0, "net_validity": 0.75, "net_ci95": [0.3, 0.95], "raw_validity": 0.75,
          "placebo_net_validity": 0.0, "mcnemar_p_vs_placebo": 0.001, "mcnemar_p_vs_best": None,
          "noise_floor": 0.0, "seconds_per_explanation": 0.00012, "lds": None}


def test_few_targets_print_point_values_only():
  few = lb.markdown_row(row(4))
  assert few[0] == "knn"  # no significance star on 4 targets
  assert few[4:6] == ["75", "n = 4: too small for an interval"]
  assert few[8] == "n = 4: too small for a test"
  enough = lb.markdown_row(row(40))
  assert enough[0] == "* knn" and enough[5] == "30-95" and enough[8] == "0.001"
  assert enough[3] == "1.00" and enough[11] == "0.000"  # one format per column
  assert lb.interval([-7.42, 7.82], 2) == "n = 2: too small for an interval"
  assert lb.interval([0.1, 0.5], 12) == "0.10 to 0.50"
