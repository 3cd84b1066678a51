"""The benchmark's protocol on data where the right answer is known, and its pipeline."""

import dataclasses

import numpy as np
import pytest

from cfjax.data import Interactions, make_synthetic
from cfjax.evaluate import cf_table, verify
from cfjax.evaluate import leaderboard as lb
from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets
from cfjax.models import make_mf
from cfjax.workflows import benchmark
from cfjax.papers import lcer as lcer_pipeline
from cfjax.pipeline import trained_original
from cfjax.train import RetrainProtocol
from cfjax.experiments.configs.benchmark import get_config

PLANTED = 0  # the item whose deletion flips every test user's top-1


def planted_data(num_test: int = 8) -> Interactions:
  """Group A loves items 0-4, group B items 5-9; both rate items 10-15, B a bit higher. Each
  test user rated the neutral items as B does and item 0 (an A item) 5 stars: item 0 alone
  makes an A item their top-1; without it their taste is B's."""
  rows = []
  for u in range(10):
    rows += [(u, i, 5.0) for i in range(5)] + [(u, i, 1.0) for i in range(5, 10)]
    rows += [(u, i, 3.0) for i in range(10, 16)]
  for u in range(10, 20):
    rows += [(u, i, 1.0) for i in range(5)] + [(u, i, 5.0) for i in range(5, 10)]
    rows += [(u, i, 4.0) for i in range(10, 16)]
  for u in range(20, 20 + num_test):
    rows += [(u, PLANTED, 5.0)] + [(u, i, 4.0) for i in range(10, 16)]
  user, item, rating = map(np.asarray, zip(*rows))
  return Interactions(user.astype(np.int32), item.astype(np.int32),
                      rating.astype(np.float32), 20 + num_test, 16)


@pytest.fixture(scope="module")
def planted():
  data = planted_data()
  model = make_mf(data.num_users, data.num_items, dim=4, l2=0.02, learning_rate=0.05,
                  global_mean=float(data.rating.mean()))
  spec = RetrainProtocol(steps=500)
  original, _ = trained_original(model, data, spec, exact_chunk=1)
  ctx = ExplainContext.from_original(model, data, original, spec)
  return ctx, top1_targets(ctx, np.arange(20, 28))


def benchmark_rows(ctx, targets, names, **protocol_fields):
  records = []
  for name in names:
    records += [dataclasses.replace(r, extra={**r.extra, "budget": 1}) for r in
                run_explainer(get_explainer(name, e=1), ctx, targets)]
  placebos = [dataclasses.replace(cf_table.placebo_record(r, ctx.train, 0),
                                  extra={"budget": 1}) for r in records]
  nothing = [dataclasses.replace(r, extra={"budget": "own"}) for r in
             run_explainer(get_explainer("none"), ctx, targets)]
  verified = verify(records + placebos + nothing, model=ctx.model, train=ctx.train,
                    original=ctx.original,
                    protocol=RetrainProtocol(chunk_size=1, **protocol_fields), ks=(1,),
                    progress=False)
  return {r["method"]: r for r in lb.leaderboard_rows(verified, targets.users, [1])}


def test_sound_methods_find_the_planted_item_and_the_placebo_rarely(planted):
  ctx, targets = planted
  for name in ("knn", "influence_function"):
    assert all(r.deleted_items == (PLANTED,) for r in
               run_explainer(get_explainer(name, e=1), ctx, targets)), name
  rows = benchmark_rows(ctx, targets, ("knn", "influence_function"), steps=500)
  for name in ("knn", "influence_function"):
    assert rows[name]["net_validity"] == 1.0 and rows[name]["noise_floor"] == 0.0
    assert rows[name]["placebo_net_validity"] <= 0.25  # 1 item of 7: the planted one 1 in 7
    assert rows[name]["mcnemar_p_vs_placebo"] < 0.05 and lb.significant(rows[name])


def test_deleting_nothing_is_never_valid_net_of_the_noise_floor():
  """Under another seed the control itself moves targets (a noise floor above 0), and a
  deletion of nothing is exactly the control: raw-valid as often, never net-valid."""
  data = make_synthetic(num_users=20, num_items=30, density=0.3, seed=2)
  model = make_mf(data.num_users, data.num_items, dim=4, global_mean=3.0)
  spec = RetrainProtocol(steps=30)
  original, _ = trained_original(model, data, spec)
  ctx = ExplainContext.from_original(model, data, original, spec)
  targets = top1_targets(ctx, np.arange(20))
  records = [dataclasses.replace(r, extra={"budget": "own"}) for r in
             run_explainer(get_explainer("none"), ctx, targets)]
  verified = verify(records, model=ctx.model, train=ctx.train, original=ctx.original,
                    protocol=RetrainProtocol(steps=30, seeds=(1,), chunk_size=1), ks=(1,),
                    progress=False)
  outcome = lb.outcomes(verified, targets.users, [1])[("none", "own")]
  assert outcome.raw[1].any(), "this setting should move some targets with nothing deleted"
  assert not outcome.net[1].any()


def tiny_config(**overrides):
  config = get_config("smoke")
  config.update(dict(datasets=("synthetic",), models=("mf",), users=3, budgets=(1,), ks=(1,),
                     methods=("knn", "fia"), cache_dir=None))
  config.protocols = {"scratch_paired": config.protocols.scratch_paired,
                      "warm_paired": config.protocols.warm_paired}
  config.model_settings.mf.steps = 20
  config.lds.users = 0
  config.update(overrides)
  return config


def test_the_pipeline_writes_a_leaderboard_and_resumes(tmp_path):
  table = benchmark.run(tiny_config(), tmp_path)
  cell = tmp_path / "synthetic-mf"
  for name in ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json",
               "validity.png"):
    assert (cell / name).is_file(), name
  assert (tmp_path / "leaderboard.md").is_file() and (tmp_path / "rows.csv").is_file()
  rows = table["cells"]["synthetic/mf"]["rows"]
  assert {(r["method"], r["budget"], r["protocol"]) for r in rows} == {
      (m, b, p) for m, b in (("knn", "e=1"), ("fia", "own"))
      for p in ("scratch_paired", "warm_paired")}
  assert all(r["targets"] == 3 and r["placebo_net_validity"] is not None for r in rows
             if r["found"])
  text = (cell / "table.md").read_text()
  assert "scratch_paired (scratch, seeds [0], paired, 20 steps), K = 1" in text
  assert text.count("Legend.") == 1  # its own legend, not the generic one too
  stamp = (cell / "table.json").stat().st_mtime_ns
  benchmark.run(tiny_config(), tmp_path)
  assert (cell / "table.json").stat().st_mtime_ns == stamp  # the finished cell is reused


@pytest.mark.slow  # a second end-to-end run; the leaderboard test is the fast path
def test_a_converged_protocol_says_what_its_models_reached(tmp_path):
  """warm_converged (enabled) retrains every explanation and control with L-BFGS until the
  gradient norm is below tol; the table states the rule and how many models reached it."""
  config = tiny_config(methods=("knn",))
  converged = get_config("smoke").protocols.warm_converged
  converged.update(enabled=True, tol=1e-3, steps=300)
  config.protocols = {"scratch_paired": config.protocols.scratch_paired,
                      "warm_converged": converged}
  table = benchmark.run(config, tmp_path)
  how = table["cells"]["synthetic/mf"]["facts"]["protocols"]["warm_converged"]
  assert how["until"] == {"tol": 1e-3, "max_steps": 300, "method": "lbfgs"}
  reached = how["reached"]
  assert reached["models"] >= 2 * 3 and reached["reached"] == reached["models"]
  assert reached["max_grad_norm"] < 1e-3 and 0 < reached["max_steps_taken"] <= 300
  text = (tmp_path / "synthetic-mf" / "table.md").read_text()
  assert ("warm_converged (warm, seeds [0], paired, to convergence: full-batch LBFGS until "
          "||grad|| < 0.001, at most 300 steps; " in text)
  assert f"{reached['models']} of {reached['models']} models converged" in text


def test_disabled_protocols_do_not_run_and_converged_ones_must_be_paired(tmp_path):
  config = tiny_config()
  assert "warm_converged" not in benchmark.protocols_for(get_config("default"), "mf")
  assert "warm_converged" in benchmark.protocols_for(get_config("paper"), "mf")
  assert "warm_converged" not in benchmark.protocols_for(get_config("paper"), "ncf")
  converged = get_config("smoke").protocols.warm_converged
  converged.update(enabled=True, seed_offsets=(1,))
  config.protocols = {"warm_converged": converged}
  with pytest.raises(ValueError, match=r"full batch and has no randomness"):
    benchmark.run(config, tmp_path)


@pytest.mark.parametrize("preset", ["smoke", "default", "paper"])
def test_the_mult_vae_cell_settings_pass_the_lcer_pipelines_checks(preset):
  """The default preset's Mult-VAE cell once stopped at the LCER pipeline's check (methods
  empty) after an hour of MF and NCF cells: its settings are checked here, without data."""
  for dataset in ("movielens-100k", "ml-1m"):
    resolved = lcer_pipeline.resolve(benchmark.amortised_settings(get_config(preset), dataset))
    assert resolved.num_users == get_config(preset).users


@pytest.mark.parametrize("overrides, message", [
    (dict(users=1), r"users=1 must be >= 2"),
    (dict(models=("svd",)), r"model 'svd' has no settings"),
    (dict(budgets=(0,)), r"budgets entry=0 must be >= 1"),
    (dict(methods=("lcer",)), r"mf cannot run \['lcer'\]"),
])
def test_bad_settings_are_one_line(tmp_path, overrides, message):
  with pytest.raises(ValueError, match=message):
    benchmark.run(tiny_config(**overrides), tmp_path)
