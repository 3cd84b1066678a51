"""ACCENT's Table 1 pipeline (`cfjax.papers.accent`): per-k resume, one verify call for all
unfinished k, the shared original, the results directory, one-line refusals, the config."""

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cfjax.data import Interactions
from cfjax.evaluate import cf_table
from cfjax import pipeline
from cfjax.papers import accent
from cfjax.records import Explanation, VerifiedRecord, read_jsonl
from cfjax.experiments.configs import accent_table1 as accent_config
from tests.conftest import needs_data

REPO = pathlib.Path(__file__).resolve().parents[2]
FILES = ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json")

# ------------------------------------------------------------------ run_ks with fakes
# 4 users x 8 items; user u rated items u..u+4 (5 rows each).
USERS, ITEMS = 4, 8
TRAIN = Interactions(user=np.repeat(np.arange(USERS), 5).astype(np.int32),
                     item=np.concatenate([np.arange(u, u + 5) for u in range(USERS)]).astype(
                         np.int32),
                     rating=np.ones(20, np.float32), num_users=USERS, num_items=ITEMS)


def fake_records(k):
  """accent: users 0, 1, 2; fia: users 0, 1; pure_fia: user 0, and user 3 found nothing."""
  record = lambda user, deleted, replacement, method: Explanation(
      user, 7 if user < 3 else 0, deleted, replacement, method, {})
  return [record(0, (0, 1, 2, 3), 6, "pure_fia"), record(3, (), None, "pure_fia"),
          record(0, (0, 1, 2), 6, "fia"), record(1, (1, 2), 6, "fia"),
          record(0, (0,), 6, "accent"), record(1, (1, 2), 6, "accent"),
          record(2, (3,), 6, "accent")]


class FakeVerify:
  """Real methods' records of users 0 and 1 succeed, placebos fail. Records its calls."""

  def __init__(self):
    self.calls = []

  def __call__(self, records):
    self.calls.append(list(records))
    return [VerifiedRecord(explanation=r, original_rank=1, new_rank=2, left_top_k={1: True},
                           item_score_original=1.0, item_score_new=0.5,
                           replacement_score_new=0.6, protocol="warm", seeds=(0,),
                           replacement_overtook=r.user in (0, 1) and "placebo" not in r.method,
                           replacement_score_original=0.5)
            for r in records]


def test_run_ks_verifies_all_unfinished_k_in_one_call_and_resumes(tmp_path):
  verify, calls = FakeVerify(), []
  explain = lambda k: calls.append(k) or fake_records(k)
  kwargs = dict(verify_records=verify, train=TRAIN, work_dir=tmp_path, seed=0,
                log=lambda _: None)
  first, timings = accent.run_ks((5, 10), explain=explain, **kwargs)
  assert calls == [5, 10] and len(verify.calls) == 1 and set(timings["explain_s"]) == {5, 10}
  assert len(verify.calls[0]) == timings["verified_records"] == 2 * 12  # 6 found + 6 placebos
  assert all(v.explanation.extra["k"] == 5 for v in first[5])
  assert {p.name for p in tmp_path.glob("*.jsonl")} == {
      "explanations_k5.jsonl", "explanations_k10.jsonl", "verified_k5.jsonl",
      "verified_k10.jsonl"}
  assert len(list(tmp_path.glob("*.jsonl.sha256"))) == 4  # each file's checksum beside it
  second, timings = accent.run_ks((5, 10, 20), explain=explain, **kwargs)
  assert calls == [5, 10, 20] and len(verify.calls) == 2 and set(timings["explain_s"]) == {20}
  assert len(verify.calls[1]) == 12 and list(second) == [5, 10, 20]
  assert second[5] == first[5]


def test_run_ks_reuses_saved_explanations_when_verification_was_interrupted(tmp_path):
  verify, calls = FakeVerify(), []
  explain = lambda k: calls.append(k) or fake_records(k)
  kwargs = dict(explain=explain, verify_records=verify, train=TRAIN, work_dir=tmp_path, seed=0,
                log=lambda _: None)
  accent.run_ks((5,), **kwargs)
  (tmp_path / "verified_k5.jsonl").unlink()
  again, timings = accent.run_ks((5,), **kwargs)
  assert calls == [5] and len(verify.calls) == 2 and timings["verified_records"] == 12
  assert verify.calls[0] == verify.calls[1]  # the same records, placebos included


# ------------------------------------------------------------------ the pipeline, synthetic
def tiny_config(tmp_path, **overrides):
  config = accent_config.get_config("smoke")
  config.update(dict(dataset="synthetic", users=2, train_steps=5, verify_steps=2,
                     verify_seeds=2, batch_size=500, verify_batch_size=500, chunk_size=1,
                     cache_dir=str(tmp_path / "cache")))
  config.update(overrides)
  return config


def fake_explain_k(ctx, targets, k, methods=cf_table.METHODS, fia_options=None):
  """Each user's two first history items, top-1 replaced by top-2, for every method."""
  top = ctx.top_k(targets.users, 2)[0]
  return [Explanation(int(u), int(t[0]), tuple(int(i) for i in ctx.train.history_items(u)[:2]),
                      int(t[1]), m, {"k": k})
          for m in methods for u, t in zip(targets.users, top)]


def forbid(monkeypatch, module, name):
  def fail(*args, **kwargs):
    raise AssertionError(f"{name} should not run")
  monkeypatch.setattr(module, name, fail)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  """(config, results dir, table) of a finished tiny run with the fake explainer."""
  tmp = tmp_path_factory.mktemp("accent")
  config = tiny_config(tmp)
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(accent, "explain_k", fake_explain_k)
    table = accent.run(config, tmp / "out", progress=False)
  return config, tmp / "out", table


@pytest.fixture
def copy_of(finished, tmp_path):
  """A copy of the finished results directory, to change without touching the original."""
  config, out, table = finished
  shutil.copytree(out, tmp_path / "out")
  return config, tmp_path / "out", table


def test_pipeline_writes_the_results_directory(finished):
  config, out, table = finished
  for name in FILES:
    assert (out / name).is_file(), name
  assert table == json.loads((out / "table.json").read_text())
  assert table["users"] == 2 and len(table["rows"]) == 3 * 9 * 2  # k x rows x metrics
  assert 57.3 in [r["paper"] for r in table["rows"]]  # the paper's value beside ours ...
  assert "n = 2: no paper comparison" in (out / "table.md").read_text()  # ... not on 2 users
  verified = read_jsonl(out / "explanations.jsonl", VerifiedRecord)
  assert len(verified) == 3 * 3 * 2 * 2  # k x methods x users x (explanation, placebo)
  assert [v.explanation.extra["k"] for v in verified] == [5] * 12 + [10] * 12 + [20] * 12
  assert {p.name for p in (out / "work").iterdir()} == {"config.json"} | {
      f"{kind}_k{k}.jsonl{checksum}" for kind in ("explanations", "verified") for k in (5, 10, 20)
      for checksum in ("", ".sha256")}


def test_config_json_records_what_the_results_depend_on(finished):
  _, out, _ = finished
  record = json.loads((out / "config.json").read_text())
  assert record["config"]["dataset"] == "synthetic" and "cache_dir" not in record["config"]
  assert record["model_hparams"]["dim"] == 16 and record["protocol"] == "warm"
  assert record["verify_seeds"] == [0, 1] and record["verify_steps"] == 2
  assert record["original_spec"] == {"steps": 5, "batch_size": 500, "seed": 0}
  assert record["scale"]["verify_fraction_of_paper"] == 2 / accent.PAPER_STEPS
  rows = record["data"]["rows"]
  assert record["scale"]["train_epochs"] == 5 / (rows // 500)
  assert set(record["timings"]) == {"train_original_s", "explain_s", "verify_s", "total_s"}
  assert record["metrics"]["verified_records"] == record["metrics"]["verified_this_run"] == 36
  assert record["code"]["source_sha256"] and record["environment"]["platform"]


def test_rerun_finds_the_finished_results(copy_of, monkeypatch):
  config, out, table = copy_of
  forbid(monkeypatch, accent, "explain_k")
  forbid(monkeypatch, accent, "verify")
  forbid(monkeypatch, pipeline, "train_original")
  assert accent.run(config, out, progress=False) == table


def test_interrupted_run_verifies_only_the_unfinished_k(copy_of, monkeypatch):
  config, out, table = copy_of
  (out / "table.json").unlink()
  (out / "work" / "verified_k20.jsonl").unlink()
  forbid(monkeypatch, accent, "explain_k")  # k=20's explanations were saved
  forbid(monkeypatch, pipeline, "train_original")  # the original comes from the cache
  calls = []
  real_verify = accent.verify
  monkeypatch.setattr(accent, "verify",
                      lambda records, **kwargs: calls.append(records) or real_verify(
                          records, **kwargs))
  assert accent.run(config, out, progress=False) == table
  assert len(calls) == 1 and {r.extra["k"] for r in calls[0]} == {20} and len(calls[0]) == 12
  record = json.loads((out / "config.json").read_text())
  assert record["metrics"]["verified_this_run"] == 12 and record["metrics"]["original_loaded"]


def test_chunk_size_does_not_invalidate_the_work_files(copy_of, monkeypatch):
  config, out, table = copy_of
  forbid(monkeypatch, accent, "explain_k")
  forbid(monkeypatch, accent, "verify")
  other = tiny_config(pathlib.Path(config.cache_dir).parent, chunk_size=2)
  assert accent.run(other, out, progress=False) == table  # rewritten from the work files
  assert json.loads((out / "config.json").read_text())["verify_chunk_size"] == 2


def test_another_setting_starts_afresh_but_shares_the_original(copy_of, monkeypatch):
  config, out, table = copy_of
  forbid(monkeypatch, pipeline, "train_original")
  monkeypatch.setattr(accent, "explain_k", fake_explain_k)
  other = tiny_config(pathlib.Path(config.cache_dir).parent, verify_steps=3)
  accent.run(other, out, progress=False)
  record = json.loads((out / "config.json").read_text())
  assert record["verify_steps"] == 3 and record["metrics"]["verified_this_run"] == 36
  assert record["metrics"]["original_loaded"]
  with pytest.raises(AssertionError, match="train_original should not run"):  # another seed
    accent.run(tiny_config(pathlib.Path(config.cache_dir).parent, seed=1), out,
               progress=False)


def test_pipeline_with_the_real_explainers(finished, tmp_path, monkeypatch):
  # one k: one influence compile; the original is cached
  config = tiny_config(pathlib.Path(finished[0].cache_dir).parent, replacement_ks=(3,))
  table = accent.run(config, tmp_path / "out", progress=False)
  explained = read_jsonl(tmp_path / "out" / "work" / "explanations_k3.jsonl")
  assert [r.method for r in explained] == ["pure_fia"] * 2 + ["fia"] * 2 + ["accent"] * 2
  assert all(r.extra["k"] == 3 and len(r.extra["top_k"]) == 3 for r in explained)
  found = sum(cf_table.is_found(r) for r in explained)
  verified = read_jsonl(tmp_path / "out" / "explanations.jsonl", VerifiedRecord)
  assert len(verified) == 2 * found  # every found explanation and its placebo
  assert {r["k"] for r in table["rows"]} == {3} and table["users"] == 2


# ------------------------------------------------------------------ refusals and the config
@pytest.mark.parametrize("model, message", [
    ("mf", r"^--model=mf is not in ACCENT's Table 1; pass --model=ncf, --model=rcf or "
           r"--model=all$")])
def test_other_models_are_refused_in_one_line_before_loading_data(tmp_path, model, message):
  config = tiny_config(tmp_path, model=model, dataset="no-such-dataset")
  with pytest.raises(ValueError, match=message):
    accent.run(config, tmp_path / "out")
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field, value, message", [
    ("users", 0, r"^users=0 must be >= 1$"),
    ("verify_seeds", 0, r"^verify_seeds=0 must be >= 1$"),
    ("verify_batch_size", -1, r"^verify_batch_size=-1 must be >= 0 \(0: full batch\)$"),
    ("chunk_size", 0, r"^chunk_size \(models per engine call\)=0 must be >= 1$")])
def test_impossible_settings_are_one_line_errors(tmp_path, field, value, message):
  with pytest.raises(ValueError, match=message):
    accent.run(tiny_config(tmp_path, **{field: value}), tmp_path / "out")


def test_runner_refuses_impossible_rcf_settings_in_one_line(tmp_path):
  done = subprocess.run([sys.executable, "-m", "experiments.accent_table1", "--model=rcf",
                         "--config.rcf_verify_protocol=later",
                         f"--output_dir={tmp_path / 'out'}"], cwd=REPO, capture_output=True,
                        text=True, timeout=120)
  assert done.returncode == 1 and done.stdout == ""
  assert done.stderr.strip().splitlines() == [
      "accent_table1: error: rcf_verify_protocol='later'; pass 'scratch' (ACCENT) or 'warm' "
      "(--verbose for a traceback)"]


def test_rcf_presets():
  smoke, default, paper = (accent_config.get_config(p) for p in ("smoke", "default", "paper"))
  assert paper.rcf_users is None and paper.rcf_verify_protocol == "scratch"
  assert (paper.rcf_train_epochs, paper.rcf_verify_epochs, paper.rcf_batch_size) == (50, 50, 512)
  assert tuple(paper.rcf_verify_seeds) == (2512, 3512, 4091, 4214, 9846)
  assert tuple(default.rcf_verify_seeds) == (2512, 3512, 4091, 4214, 9846)
  assert smoke.rcf_users < default.rcf_users


def test_presets():
  smoke, default, paper = (accent_config.get_config(p) for p in ("smoke", "default", "paper"))
  assert (smoke.users, smoke.train_steps, smoke.verify_steps) == (6, 5_000, 49)
  assert (default.users, default.train_steps, default.verify_steps) == (None, 120_000, 245)
  assert (paper.users, paper.train_steps, paper.verify_steps) == (None, 120_000, 120_000)
  for config in (smoke, default, paper):
    assert (config.dataset, config.model, config.seed, config.verify_seeds) == (
        "accent-ml100k", "ncf", 0, 5)
    assert (config.batch_size, config.verify_batch_size) == (1246, 1246)
  with pytest.raises(ValueError, match=r"^unknown preset 'fast'; choose one of smoke, "
                     r"default, paper$"):
    accent_config.get_config("fast")


# ------------------------------------------------------------------ real data
def marked(*marks):
  """Applies several pytest marks (e.g. the list `needs_data` returns) to a test."""
  def apply(test):
    for mark in marks:
      test = mark(test)
    return test
  return apply


@pytest.mark.slow
@marked(*needs_data("accent-ml100k", "movielens_train.tsv"))
def test_smoke_preset_on_accent_ml100k(tmp_path):
  config = accent_config.get_config("smoke")
  config.cache_dir = str(tmp_path / "cache")
  table = accent.run(config, tmp_path / "out", progress=False)
  record = json.loads((tmp_path / "out" / "config.json").read_text())
  assert record["data"]["name"] == "accent-ml100k" and record["data"]["users"] == 452
  assert table["users"] == 6 and {r["k"] for r in table["rows"]} == {5, 10, 20}
  assert record["metrics"]["verified_records"] == 58  # as before the redesign


@pytest.mark.slow  # RCF's compiles take minutes on 2 shared cores
def test_rcf_half_end_to_end_on_tiny_data(tmp_path, monkeypatch):
  """--model=rcf on tiny synthetic RCF data with a fake explainer: the five methods' rows
  beside the paper's RCF numbers, with placebos, noise floors and the tests."""
  from cfjax.data.rcf import synthetic_rcf
  from cfjax.papers.published import ACCENT_TABLE1_RCF
  monkeypatch.setattr(accent, "load_data",
                      lambda config, model: synthetic_rcf(num_users=4, num_items=10, per_user=5))
  monkeypatch.setattr(accent, "explain_k", fake_explain_k)
  config = tiny_config(tmp_path, model="rcf", replacement_ks=(3,), rcf_users=2, rcf_train_epochs=1,
                       rcf_batch_size=4, rcf_verify_protocol="scratch", rcf_verify_steps=2,
                       rcf_verify_seeds=(2512, 3512))
  table = accent.run(config, tmp_path / "out")
  methods = {r["method"] for r in table["rows"]}
  assert set(accent.RCF_METHODS) <= methods
  assert {"placebo_attention", "noise_accent"} <= methods
  row = next(r for r in table["rows"] if r["method"] == "attention" and r["metric"] == "cf_size")
  assert row["paper"] is None  # k=3 is not in the paper; k=5 would be:
  assert ACCENT_TABLE1_RCF[("attention", 5)] == (76.99, 3.55)
  assert any(t["a"] == "accent" and t["b"] == "pure_attention" for t in table["comparisons"]["3"])
  written = json.loads((tmp_path / "out" / "config.json").read_text())
  assert written["verify_seeds"] == [2512, 3512] and written["model_hparams"]["init_seed"] == 2016


def test_all_runs_both_halves_into_subdirectories(tmp_path, monkeypatch):
  calls = []

  def fake(config, workdir, progress=True):
    calls.append((config.model, config.model, pathlib.Path(workdir).name))
    pathlib.Path(workdir).mkdir(parents=True)
    (pathlib.Path(workdir) / "table.md").write_text(f"{config.model} table\n")
    return {"rows": [config.model]}

  monkeypatch.setattr(accent, "run_half", fake)
  tables = accent.run(tiny_config(tmp_path, model="all"), tmp_path / "out")
  assert calls == [("ncf", "ncf", "ncf"), ("rcf", "rcf", "rcf")]
  assert tables == {"ncf": {"rows": ["ncf"]}, "rcf": {"rows": ["rcf"]}}
  text = (tmp_path / "out" / "table.md").read_text()
  assert "## NCF" in text and "ncf table" in text and "## RCF" in text and "rcf table" in text
  assert json.loads((tmp_path / "out" / "table.json").read_text())["rcf"] == {"rows": ["rcf"]}
