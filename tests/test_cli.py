"""`cfjax explain` end to end on the synthetic dataset: the sentence names the right titles,
the verified ranks are `verify`'s, and mistakes end in one line before any training."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from cfjax import data as cfdata
from cfjax.cli import main
from cfjax.evaluate import verify
from cfjax.explain import ExplainContext, get_explainer, run_explainer
from cfjax.explain.base import Targets
from cfjax.models import MODELS, make_model
from cfjax.pipeline import engine_chunk_size, trained_original
from cfjax.train import RetrainProtocol
from cfjax.workflows.explain_user import (MIN_SUPPORT, Request, check_request, choose_model,
                                          recommendable, render, resolve_users)

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


@pytest.fixture(scope="module")
def likes(tmp_path_factory):
  """The synthetic data as a CSV of likes: no rating column (implicit feedback)."""
  data = cfdata.load("synthetic")
  path = tmp_path_factory.mktemp("likes") / "likes.csv"
  path.write_text("\n".join(["person,film"] + [f"p{u},f{i}" for u, i in zip(data.user, data.item)])
                  + "\n")
  return path


def test_implicit_feedback_trains_a_ranking_model_and_says_so(likes, tmp_path, capsys):
  output = tmp_path / "report.json"
  main(["explain", f"--dataset={likes}", "--columns=user=person,item=film", "--user=p7",
        "--user=p7", "--methods=knn", "--steps=20", "--seeds=1", "--no_cache", "--quiet",
        "--output", str(output)])
  printed = capsys.readouterr().out.splitlines()
  report = json.loads(output.read_text())
  assert report["setup"]["model"] == "bpr" and printed[0].startswith("bpr on likes")
  assert printed[1].startswith("note: model: bpr (BPR-MF, a ranking model), since every "
                               "rating is 1 (implicit feedback")
  assert any("user p7 (2 times) was listed more than once" in line for line in printed)
  (user,) = report["users"]  # explained once, each verdict counted once
  (knn,) = user["methods"]
  assert len(knn["verification"]) == 1 and knn["held"] <= 1
  assert len(user["noise_floor"]["verification"]) == 1


def test_a_rating_regressor_on_implicit_feedback_is_refused():
  data = cfdata.load("synthetic")
  implicit = dataclasses.replace(data, rating=np.ones_like(data.rating))
  assert choose_model(data, None) == ("mf", None)
  assert choose_model(implicit, None)[0] == "bpr"
  assert choose_model(implicit, "lightgcn") == ("lightgcn", None)
  for regressor in ("mf", "ncf"):
    with pytest.raises(ValueError, match=rf"model '{regressor}' regresses ratings but every "
                                         r"rating .* is 1 .* pass --model=bpr") as error:
      choose_model(implicit, regressor)
    assert "\n" not in str(error.value)


def test_rarely_rated_items_are_dropped_before_training():
  data = cfdata.load("synthetic")
  assert recommendable(data, 1) == (data, None)
  kept, note = recommendable(data, MIN_SUPPORT)
  support = np.bincount(kept.item, minlength=kept.num_items)
  assert support.min() >= MIN_SUPPORT and kept.num_items < data.num_items
  assert note.startswith(f"recommendable items: the {kept.num_items} of {data.num_items} with "
                         f">= {MIN_SUPPORT} interactions")
  seven = resolve_users(kept, ["7"])[0]  # raw ids survive the renumbering
  titles = {kept.item_titles[i] for i in kept.history_items(seven)}
  assert titles == {data.item_titles[i] for i in data.history_items(7)
                    if np.sum(data.item == i) >= MIN_SUPPORT}


@pytest.mark.parametrize("fields, message", [
    (dict(seed=-1), r"seed=-1 is not an int >= 0 .* pass --seed=0"),
    (dict(seeds=None), r"seeds=None is not a whole number >= 1; pass --seeds=1 or more"),
    (dict(seeds=0), r"seeds=0 is not a whole number >= 1"),
    (dict(min_support=0), r"min_support=0 is not a whole number >= 1"),
])
def test_seed_mistakes_name_the_fix(fields, message):
  with pytest.raises(ValueError, match=message) as error:
    check_request(Request(**fields))
  assert "\n" not in str(error.value)


def test_warnings_are_printed(report):
  report, _ = report
  assert report["warnings"] == []  # the synthetic MF's top-1 is not tied
  text = render({**report, "warnings": ["1 of 1 users' top-1 is tied"]})
  assert "warning: 1 of 1 users' top-1 is tied" in text.splitlines()
