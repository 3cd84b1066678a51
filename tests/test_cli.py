"""`cfjax explain` end to end on the synthetic dataset: the sentence names the right titles,
the verified ranks are `verify`'s, and mistakes end in one line before any training."""

import json
import subprocess
import sys

import pytest

from cfjax import data as cfdata
from cfjax.cli import main
from cfjax.evaluate import verify
from cfjax.explain import ExplainContext, get_explainer, run_explainer
from cfjax.explain.base import Targets
from cfjax.models import MODELS, make_model
from cfjax.pipeline import engine_chunk_size, trained_original
from cfjax.train import RetrainProtocol
from cfjax.workflows.explain_user import MIN_SUPPORT, recommendable

STEPS = 20


@pytest.fixture(scope="module")
def report(tmp_path_factory):
  folder = tmp_path_factory.mktemp("explain")
  output = folder / "report.json"
  main(["explain", "--dataset=synthetic", "--user=7", "--methods=knn", "--steps", str(STEPS),
        "--seeds=2", "--cache_dir", str(folder / "cache"), "--output", str(output), "--quiet"])
  return json.loads(output.read_text()), folder


def test_the_sentence_names_the_users_items_by_title(report):
  report, _ = report
  data = cfdata.load("synthetic")
  (user,) = report["users"]
  assert user["user"] == 7
  (knn,) = user["methods"]
  titles = [entry["title"] for entry in knn["deleted"]]
  assert len(titles) == 3 and all(t.startswith("Synthetic item ") for t in titles)
  history = set(data.item[data.history_rows(7)].tolist())
  assert {int(t.removeprefix("Synthetic item ")) for t in titles} <= history
  target = user["target"]["title"]
  assert knn["sentence"].startswith("Had user 7 not rated *" + titles[0] + "*")
  assert knn["sentence"].endswith(f"*{target}* would no longer be recommended first.")
  assert user["top"][0]["title"] == target
  assert int(target.removeprefix("Synthetic item ")) not in history


def test_the_verified_ranks_are_verifys(report):
  report, folder = report
  data, _ = recommendable(cfdata.load("synthetic"), MIN_SUPPORT)  # what the command trained on
  model = make_model("mf", data, **MODELS.get("mf").recipe.hparams)
  spec = RetrainProtocol(steps=STEPS, batch_size=None, seeds=(0,))
  original, info = trained_original(model, data, spec, cache_dir=folder / "cache",
                                    exact_chunk=engine_chunk_size(None, None))
  assert info["loaded"]  # the command cached it under the same key
  ctx = ExplainContext.from_original(model, data, original, spec)
  (user,) = report["users"]
  item = data.item_titles.index(user["target"]["title"])
  (record,) = run_explainer(get_explainer("knn", e=3), ctx, Targets([7], [item]))
  expected = [verify([record], model=model, train=data, original=original,
                     protocol=RetrainProtocol(steps=STEPS, seeds=(seed,), chunk_size=1), ks=(1,),
                     progress=False)[0].new_rank
              for seed in (0, 1)]
  (knn,) = user["methods"]
  assert [o["new_rank"] for o in knn["verification"]] == expected
  assert [o["paired"] for o in knn["verification"]] == [True, False]
  floor = user["noise_floor"]["verification"]
  assert floor[0]["paired"] and floor[0]["new_rank"] == 1  # nothing deleted, own seed: kept


@pytest.mark.parametrize("args, message", [
    (["--dataset=nope"], "unknown dataset"),
    (["--dataset=synthetic", "--user=100000"], "user '100000' is not in the data"),
    (["--dataset=synthetic", "--methods=knn,telepathy"], "method 'telepathy' is unknown"),
    (["--dataset=synthetic", "--size=0"], "size"),
    (["--dataset=synthetic", "--output=/nonexistent/dir/x.json"], "does not exist"),
])
def test_mistakes_end_in_one_line(args, message, tmp_path):
  run = subprocess.run([sys.executable, "-m", "cfjax", "explain", "--quiet", "--no_cache",
                        *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
  assert run.returncode != 0
  lines = [line for line in run.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and message in lines[0] and "Traceback" not in run.stderr, run.stderr


def test_help_lists_the_options():
  run = subprocess.run([sys.executable, "-m", "cfjax", "explain", "--help"], capture_output=True,
                       text=True, timeout=60)
  assert run.returncode == 0
  for option in ("--dataset", "--model", "--user", "--users", "--methods", "--k", "--verify",
                 "--output"):
    assert option in run.stdout


def test_a_csv_with_string_ids_is_explained_in_its_own_ids(tmp_path):
  data = cfdata.load("synthetic")
  rows = ["person,film,stars,name"] + [
      f"p{u},f{i},{r:g},Film {i}" for u, i, r in zip(data.user, data.item, data.rating)]
  path = tmp_path / "ratings.csv"
  path.write_text("\n".join(rows) + "\n")
  output = tmp_path / "report.json"
  main(["explain", f"--dataset={path}", "--columns=user=person,item=film,rating=stars,title=name",
        "--user=p7", "--methods=knn", "--steps=5", "--seeds=1", "--no_cache", "--quiet",
        "--output", str(output)])
  (user,) = json.loads(output.read_text())["users"]
  assert user["user"] == "p7"
  (knn,) = user["methods"]
  assert knn["sentence"].startswith("Had user p7 not rated *Film ")
  assert all(entry["item"].startswith("f") for entry in knn["deleted"])
