"""Bad input, from loaders through the Python API to the runners: one clear line, no traceback,
no partial result a rerun would reuse, and never a silently wrong number.

Each case names the problem it must be refused for; the runners run as subprocesses (several
at a time) exactly as a user types them.
"""

import concurrent.futures
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cfjax import data as cd
from cfjax import evaluate, rank
from cfjax.data import DatasetError, Interactions
from cfjax.explain import ExplainContext, Targets, get_explainer, run_explainer, top1_targets
from cfjax.models import MissingHookError, Recommender, make_model
from cfjax.pipeline import trained_original
from cfjax.records import Explanation, read_jsonl
from cfjax.train import RetrainProtocol, retrain, to_train_data, train_original
from cfjax.train.health import DivergedError, check_scores

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOOD_ROWS = "1\t1\t5\t10\n1\t2\t3\t11\n2\t1\t4\t12\n2\t3\t2\t13\n"


def one_line(error) -> str:
  message = str(error.value)
  assert "\n" not in message, message
  return message


# ------------------------------------------------------------------------------- loaders
def write_ml100k(root: pathlib.Path, u_data: str) -> None:
  folder = root / "ml-100k"
  folder.mkdir(parents=True)
  (folder / "u.data").write_text(u_data)
  (folder / "u.item").write_bytes(b"1|One|x\n2|Two|x\n3|Three|x\n")


LOADER_CASES = {
    "rating -40": ("1\t1\t-40\t10\n", r"line 5: rating -40 lies outside \[1, 5\]"),
    "rating 1e6": ("1\t3\t1000000\t10\n", r"line 5: rating 1e\+06 lies outside \[1, 5\]"),
    "negative user id": ("-3\t1\t4\t10\n", r"line 5: user id -3 is negative"),
    "id overflowing int64": ("99999999999999999999\t1\t4\t10\n", r"line 5: .* below 2\^53"),
    "duplicate (user, item)": ("2\t3\t5\t14\n", r"lines 4 and 5 both hold user 2 and item 3"),
    "non-numeric rating": ("3\t1\tfive\t10\n", r"line 5: rating 'five' is not"),
    "a line cut short": ("3\t1\n", r"line 5: expected 4"),
    "a non-numeric id": ("3\tx\t4\t10\n", r"line 5: item 'x' is not"),
}


@pytest.mark.filterwarnings("ignore::cfjax.data.loaders.ModifiedDataWarning")
@pytest.mark.parametrize("case", LOADER_CASES)
def test_bad_rows_of_an_edited_file_are_refused_with_their_line(tmp_path, case):
  extra, message = LOADER_CASES[case]
  write_ml100k(tmp_path, GOOD_ROWS + extra)
  with pytest.raises(DatasetError, match=message) as error:
    cd.load("movielens-100k", data_dir=tmp_path, download=False, allow_modified_data=True)
  assert "u.data" in one_line(error)


def test_a_file_that_is_not_the_published_one_is_refused(tmp_path):
  write_ml100k(tmp_path, GOOD_ROWS)
  with pytest.raises(DatasetError, match=r"u.data has sha256 .* \(modified or truncated\); "
                                         r"restore the original file, or allow") as error:
    cd.load("movielens-100k", data_dir=tmp_path, download=False)
  one_line(error)


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_a_truncated_real_u_data_is_refused(tmp_path, cut):
  real = pathlib.Path(os.environ.get("CFJAX_DATA_DIR", "/nonexistent")) / "ml-100k"
  if not (real / "u.data").is_file():
    pytest.skip("needs ml-100k under CFJAX_DATA_DIR")
  shutil.copytree(real, tmp_path / "ml-100k")
  payload = (real / "u.data").read_bytes()
  (tmp_path / "ml-100k" / "u.data").write_bytes(payload[:int(len(payload) * cut)])
  with pytest.raises(DatasetError, match=r"u.data has sha256 .*modified or truncated"):
    cd.load("movielens-100k", data_dir=tmp_path, download=False)


@pytest.mark.parametrize("call, message", [
    (lambda tmp: cd.load("ml-10m"), r"unknown dataset 'ml-10m'; known datasets"),
    (lambda tmp: cd.load("amazon", data_dir=tmp, download=False), r"missing rating.txt in"),
    (lambda tmp: cd.load("movielens", data_dir=tmp / "a-file", download=False),
     r"missing u.data, u.item in"),
    (lambda tmp: cd.load("synthetic", num_users=0), r"num_users=0 must be >= 1"),
    (lambda tmp: cd.load("movielens", data_dir=tmp, download=False, seed=3),
     r"unexpected arguments \['seed'\]"),
], ids=["unknown name", "missing file offline", "data dir is a file", "synthetic size 0",
        "argument for another loader"])
def test_loader_arguments(tmp_path, call, message):
  (tmp_path / "a-file").write_text("not a folder")
  with pytest.raises(ValueError, match=message) as error:
    call(tmp_path)
  one_line(error)


def interactions(**overrides):
  fields = dict(user=np.array([0, 0, 1], np.int32), item=np.array([0, 1, 1], np.int32),
                rating=np.array([5.0, 3.0, 4.0], np.float32), num_users=2, num_items=2)
  return Interactions(**{**fields, **overrides})


@pytest.mark.parametrize("overrides, message", [
    (dict(item=np.array([0, 1, 0], np.int32), user=np.array([0, 0, 0], np.int32)),
     r"rows 0 and 2 both hold user 0 and item 0"),
    (dict(rating=np.array([5.0, np.nan, 4.0], np.float32)), r"rating of row 1 is nan"),
    (dict(item=np.array([0, 1, 2], np.int32)), r"item ids must lie in \[0, 2\)"),
    (dict(user=np.array([0, -1, 1], np.int32)), r"user ids must lie in \[0, 2\)"),
], ids=["duplicate pair", "NaN rating", "item out of range", "negative user"])
def test_interactions_built_by_hand(overrides, message):
  with pytest.raises(ValueError, match=message) as error:
    interactions(**overrides)
  one_line(error)


# ----------------------------------------------------------------------------------- API
@pytest.fixture(scope="module")
def trained():
  data = cd.make_synthetic(num_users=12, num_items=20, density=0.3, seed=0)
  model = make_model("mf", data, dim=2)
  spec = RetrainProtocol(steps=5)
  original = train_original(model, to_train_data(data), RetrainProtocol(steps=5, seeds=(0,)))
  return data, model, original, ExplainContext.from_original(model, data, original, spec)


RETRAIN_CASES = {
    "bool deleted_rows": (dict(deleted_rows=np.array([[True, False]])), "integer row indices"),
    "float deleted_rows": (dict(deleted_rows=np.array([[1.0, 2.0]])), "integer row indices"),
    "no deletions": (dict(deleted_rows=np.zeros((0, 2), np.int32)), r"M = 0"),
    "row beyond the data": (dict(deleted_rows=np.array([[10_000]])), "has only"),
    "steps 2.5": (dict(steps=2.5), r"steps must be an integer, got 2.5"),
    "steps True": (dict(steps=True), r"steps must be an integer, got True"),
    "negative steps": (dict(steps=-1), r"steps=-1 must be >= 0"),
    "no seeds": (dict(seeds=[]), "seeds is empty"),
    "a float seed": (dict(seeds=[1.5]), r"seed must be an integer, got 1.5"),
    "chunk size 0": (dict(chunk_size=0), r"chunk_size=0 must be >= 1"),
    "unknown protocol": (dict(kind="hot"), "kind='hot' must be one of"),
    "warm without original": (dict(kind="warm"), "pass original="),
    "batch larger than the data": (dict(batch_size=0), r"batch_size=0 must be >= 1"),
}


@pytest.mark.parametrize("case", RETRAIN_CASES)
def test_retrain_arguments(trained, case):
  data, model, _, _ = trained
  overrides, message = RETRAIN_CASES[case]
  fields = dict(seeds=[0], steps=2)
  fields.update({k: v for k, v in overrides.items() if k != "deleted_rows"})
  deleted_rows = overrides.get("deleted_rows", np.array([[1, -1]]))
  with pytest.raises(ValueError, match=message) as error:
    retrain(model, to_train_data(data), deleted_rows, RetrainProtocol(**fields), progress=False)
  one_line(error)


def verify_call(trained, records, **overrides):
  data, model, original, _ = trained
  protocol = RetrainProtocol(steps=overrides.pop("steps", 2))
  kwargs = dict(model=model, train=data, original=original, protocol=protocol, ks=(1,),
                progress=False)
  return evaluate.verify(records, **{**kwargs, **overrides})


def a_record(trained, **overrides):
  data, _, _, ctx = trained
  user = 0
  item = int(top1_targets(ctx, [user]).items[0])
  fields = dict(user=user, item=item, deleted_items=tuple(data.history_items(user)[:2]))
  return Explanation(**{**fields, **overrides})


@pytest.mark.parametrize("make, overrides, message", [
    (lambda t: [a_record(t)], dict(steps=0), r"steps=0 must be >= 1"),
    (lambda t: [a_record(t)], dict(ks=(0,)), r"K=0 must lie in"),
    (lambda t: [{"user": 0}], {}, r"record 0 is a dict, not a cfjax Explanation"),
    (lambda t: [a_record(t, deleted_items=(int(np.setdiff1d(
        np.arange(20), t[0].history_items(0))[0]),))], {}, r"has no training interaction"),
    (lambda t: [a_record(t, item=int(t[0].history_items(0)[0]), deleted_items=())], {},
     r"is not an unseen item"),
], ids=["zero steps", "K 0", "not a record", "deleting an unseen item", "a seen target"])
def test_verify_arguments(trained, make, overrides, message):
  with pytest.raises(ValueError, match=message) as error:
    verify_call(trained, make(trained), **overrides)
  one_line(error)


def test_ill_typed_targets_and_records_are_refused(trained, tmp_path):
  with pytest.raises(ValueError, match="target users must be integer ids"):
    Targets(np.array([0.5]), np.array([1]))
  with pytest.raises(ValueError, match="user must be an integer id, got 3.9"):
    Explanation(3.9, 1, (2,))
  with pytest.raises(ValueError, match="deleted_items must be a list"):
    Explanation(3, 1, "123")
  (tmp_path / "r.jsonl").write_text('{"user": 3.9, "item": 1, "deleted_items": [2]}\n')
  with pytest.raises(ValueError, match=r"r.jsonl:1: malformed"):
    read_jsonl(tmp_path / "r.jsonl")


@pytest.mark.parametrize("name, options, message", [
    ("nope", {}, r"unknown explainer 'nope'"),
    ("knn", dict(e=0), r"knn: e=0 must be >= 1"),
    ("knn", dict(e=2.5), r"knn: e must be an integer, got 2.5"),
    ("knn", dict(size=3), r"explainer 'knn': .*options are e, name"),
    ("accent", dict(replacement_k=1), r"accent: replacement_k=1 leaves no candidate replacement"),
    ("fia", dict(k=3), r"explainer 'fia': .*\(k is now replacement_k\)"),
    ("lcer", dict(chunk_size=2), r"\(chunk_size is now targets_per_batch\)"),
    ("lcer", dict(lam=float("nan")), r"lcer: lam=nan must be a finite number"),
    ("influence_function", dict(solver="qr"), r"solver='qr' is not one of"),
    ("kaffes", dict(length_weight=2.0), r"kaffes: length_weight=2 must lie in \[0, 1\]"),
    ("lasso_reg", dict(max_candidates=0), r"max_candidates=0 must be >= 1"),
], ids=lambda value: str(value))
def test_explainer_options(name, options, message):
  with pytest.raises(ValueError, match=message) as error:
    get_explainer(name, **options)
  one_line(error)


def test_explainers_refuse_what_they_cannot_explain(trained):
  data, model, original, ctx = trained
  bare = Recommender(name="bare", num_users=model.num_users, num_items=model.num_items,
                     init=model.init, predict=model.predict, row_losses=model.row_losses)
  bare_ctx = ExplainContext.from_original(bare, data, original)
  with pytest.raises(MissingHookError, match="'bare' has no item_embeddings hook, which the "
                                             "knn explainer needs"):
    run_explainer(get_explainer("knn", e=2), bare_ctx, top1_targets(ctx, [0]))
  second = ctx.top_k([0], 2)[0][0, 1]
  with pytest.raises(ValueError, match=r"accent explains a user's top-1 item, but target"):
    run_explainer(get_explainer("accent", replacement_k=3), ctx, Targets([0], [second]))
  with pytest.raises(ValueError,
                     match="sized for 5 users x 20 items but the training data has 12 x 20"):
    ExplainContext(model=make_model("mf", cd.make_synthetic(num_users=5, num_items=20, seed=1)),
                   params=original.params, train=data)


@pytest.mark.parametrize("call, message", [
    (lambda d: cd.sample_users(d, 0, min_history=1, seed=0), r"num_users=0"),
    (lambda d: cd.random_split(d, train_fraction=1.5, seed=0), r"train_fraction"),
    (lambda d: make_model("svd", d), r"unknown model 'svd'"),
    (lambda d: make_model("mf", d, width=3), r"model 'mf': .*width"),
    (lambda d: train_original(make_model("mf", d), to_train_data(d),
                              RetrainProtocol(steps=3, batch_size=10_000, seeds=(0,))),
     r"batch_size=10000 must lie in"),
    (lambda d: rank.top_k(np.zeros((1, 20)), np.ones((1, 20), bool), 1), r"only 0 unseen"),
], ids=["no users", "split fraction", "unknown model", "unknown hyperparameter",
        "batch larger than the data", "top-k with nothing unseen"])
def test_data_and_model_arguments(trained, call, message):
  with pytest.raises(ValueError, match=message) as error:
    call(trained[0])
  one_line(error)


def test_a_diverged_model_stops_the_run(trained):
  data = trained[0]
  model = make_model("mf", data, dim=2, learning_rate=1e3)
  with pytest.raises(DivergedError, match=r"the original model diverged: training loss .* "
                                          r"after 30 steps, .* at init") as error:
    trained_original(model, data, RetrainProtocol(steps=30))
  one_line(error)
  with pytest.raises(DivergedError, match=r"1 of 2 retrained models gave non-finite scores"):
    check_scores(np.array([[1.0, np.nan], [1.0, 2.0]]), np.ones((2, 2)), what="verify")
  with pytest.raises(DivergedError, match="retraining exploded"):
    check_scores(np.array([[1.0, 5e4]]), np.array([[4.0, 5.0]]), what="verify")


# -------------------------------------------------------------------------------- runners
def run_runner(args: list[str], tmp: pathlib.Path) -> subprocess.CompletedProcess:
  env = {**os.environ, "CFJAX_NO_DOWNLOAD": "1", "JAX_PLATFORMS": "cpu"}
  return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=300)


RUNNER_CASES = {
    "unknown preset": (["experiments.retrain_verify", "--preset=nope"], "unknown preset 'nope'"),
    "zero steps": (["experiments.retrain_verify", "--config.steps=0"], "steps=0 must be >= 1"),
    "zero users": (["experiments.retrain_verify", "--config.num_users=0"],
                   "num_users=0 must be >= 1"),
    "zero deletion size": (["experiments.retrain_verify", "--config.deletion_size=0"],
                           "deletion_size=0 must be >= 1"),
    "chunk size 0": (["experiments.retrain_verify", "--chunk_size=0"], "must be >= 1"),
    "unknown dataset": (["experiments.retrain_verify", "--dataset=nope"],
                        "unknown dataset 'nope'"),
    "output dir is a file": (["experiments.retrain_verify", "--output_dir={file}"],
                             "error: "),
    "unknown config field": (["experiments.retrain_verify", "--config.nope=1"], "bad flag"),
    "a value of the wrong type": (["experiments.retrain_verify", "--config.num_users=abc"],
                                  "bad flag"),
    "a stray argument": (["experiments.retrain_verify", "stray"], "unexpected arguments"),
    "split fraction 1.5": (["experiments.retrain_verify", "--config.train_fraction=1.5"],
                           "train_fraction=1.5 must lie in"),
    "unknown model": (["experiments.retrain_verify", "--model=svd"], "unknown model 'svd'"),
    "diverging learning rate": (["experiments.retrain_verify", "--dataset=synthetic",
                                 "--config.learning_rate=1000", "--config.steps=40"],
                                "diverged"),
    "RCF with no users": (["experiments.accent_table1", "--model=rcf",
                           "--config.rcf_users=0"], "rcf_users=0 must be >= 1"),
    "ACCENT with no users": (["experiments.accent_table1", "--config.users=0"],
                             "users=0 must be >= 1"),
    "Table 3 with no test users": (["experiments.table3", "--config.test_users=0"],
                                   "test_users"),
    "Table 3 with an unknown model": (["experiments.table3", "--model=svd"], "svd"),
    "Table 2 without its Table 3": (["experiments.table2", "--config.table3_dir=/nonexistent"],
                                    "holds no finished Table 3 run"),
    "LCER with a NaN lambda": (["experiments.lcer_table2", "--config.lam=nan"],
                               "lam=nan must be a finite number"),
    "LCER on data not offline": (["experiments.lcer_table2", "--dataset=alishop"],
                                 "its training split (train.csv) was not found"),
    "LCER Table 3 with no lambdas": (["experiments.lcer_table3", "--config.lambdas=()"],
                                     "lambdas is empty"),
    "LCER sweep with K 0": (["experiments.lcer_sweep", "--config.k=0"], "k=0 must be"),
}


def test_runners_refuse_bad_input_in_one_line_and_leave_nothing(tmp_path):
  (tmp_path / "file").write_text("a file, not a directory")

  def case(name):
    args, expected = RUNNER_CASES[name]
    args = [a.format(file=tmp_path / "file") for a in args]
    out = tmp_path / name.replace(" ", "_")
    if not any(a.startswith("--output_dir") for a in args):
      args.append(f"--output_dir={out}")
    return name, out, expected, run_runner(args, tmp_path)

  with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    results = list(pool.map(case, RUNNER_CASES))
  for name, out, expected, done in results:
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0, name
    assert "Traceback" not in done.stderr, f"{name}: {done.stderr[-2000:]}"
    assert lines and expected in lines[-1], f"{name}: {done.stderr[-500:]}"
    assert not (out / "table.json").exists() and not (out / "config.json").exists(), name


def test_a_second_run_into_a_busy_directory_stops_at_once(tmp_path):
  out = tmp_path / "out"
  with evaluate.ResultsDir(out).locked():
    done = run_runner(["experiments.retrain_verify", "--preset=smoke", "--dataset=synthetic",
                       f"--output_dir={out}"], tmp_path)
  assert done.returncode != 0 and "Traceback" not in done.stderr
  assert f"{out} is in use by another run (pid {os.getpid()}" in done.stderr.splitlines()[-1]
  assert not (out / "table.json").exists()
