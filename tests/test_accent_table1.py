"""ACCENT Table 1 evaluation: counting, placebos, resume, and the runner end to end."""

import json
import os
import pathlib

import numpy as np
import pytest

from cfjax.data import Interactions
from cfjax.evaluate import ExplanationRecord, VerifiedRecord, accent_eval, read_jsonl
from experiments import accent_table1

# 4 users x 8 items; user u rated items u..u+4 (5 rows each).
USERS, ITEMS = 4, 8
TRAIN = Interactions(user=np.repeat(np.arange(USERS), 5).astype(np.int32),
                     item=np.concatenate([np.arange(u, u + 5) for u in range(USERS)]).astype(
                         np.int32),
                     rating=np.ones(20, np.float32), num_users=USERS, num_items=ITEMS)


def record(user, deleted, replacement, method):
  return ExplanationRecord(user=user, item=7 if user < 3 else 0, deleted_items=deleted,
                           replacement=replacement, method=method, extra={})


def fake_explain(k):
  """accent: users 0, 1, 2 (sizes 1, 2, 1); fia: users 0, 1 (sizes 3, 2); pure_fia: user 3
  found nothing (replacement None), user 0 size 4."""
  return {"pure_fia": [record(0, (0, 1, 2, 3), 6, "pure_fia"), record(3, (), None, "pure_fia")],
          "fia": [record(0, (0, 1, 2), 6, "fia"), record(1, (1, 2), 6, "fia")],
          "accent": [record(0, (0,), 6, "accent"), record(1, (1, 2), 6, "accent"),
                     record(2, (3,), 6, "accent")]}


class FakeVerifier:
  """Succeeds for real methods' records of users 0 and 1; placebos fail. Counts calls."""

  def __init__(self):
    self.calls = []

  def __call__(self, records):
    self.calls.append(list(records))
    return [VerifiedRecord(explanation=r, original_rank=1, new_rank=2, left_top_k={1: True},
                           item_score_original=1.0, item_score_new=0.5,
                           replacement_score_new=0.6, protocol="warm", seeds=(0,),
                           replacement_overtook=r.user in (0, 1) and "placebo" not in r.method,
                           # the control alone lets user 1's replacement overtake
                           replacement_score_original=1.5 if r.user == 1 else 0.5)
            for r in records]


def test_placebos_match_sizes_and_replacements():
  records = accent_eval.records_to_verify(fake_explain(5), TRAIN, seed=3)
  real = [r for r in records if not r.method.startswith("placebo_")]
  placebos = [r for r in records if r.method.startswith("placebo_")]
  assert len(real) == len(placebos) == 6  # pure_fia's user 3 found nothing: no record
  for r, p in zip(real, placebos):
    assert p.method == "placebo_" + r.method and (p.user, p.item) == (r.user, r.item)
    assert p.replacement == r.replacement and len(p.deleted_items) == len(r.deleted_items)
    assert set(p.deleted_items) <= set(TRAIN.history_items(r.user).tolist())
  again = accent_eval.records_to_verify(fake_explain(5), TRAIN, seed=3)
  assert again == records  # seeded


def test_counting_over_all_users():
  verifier = FakeVerifier()
  verified = verifier(accent_eval.records_to_verify(fake_explain(5), TRAIN, seed=0))
  result = accent_eval.evaluate_k(verified, users=range(USERS))
  accent, fia, pure = (result["methods"][m] for m in ("accent", "fia", "pure_fia"))
  assert (accent["found"], accent["successes"]) == (3, 2)
  assert accent["cf_percentage"] == 50.0 and accent["cf_size"] == 1.5  # sizes 1, 2
  assert fia["cf_percentage"] == 50.0 and fia["cf_size"] == 2.5
  assert pure["found"] == 1 and pure["cf_percentage"] == 25.0 and pure["cf_size"] == 4.0
  assert result["methods"]["placebo_accent"]["cf_percentage"] == 0.0
  assert result["methods"]["placebo_accent"]["cf_size"] is None
  noise = result["methods"]["noise_accent"]  # user 1 of the 3 found; 1 of 4 users
  assert (noise["found"], noise["successes"], noise["cf_percentage"]) == (3, 1, 25.0)
  assert noise["cf_size"] is None and result["methods"]["noise_pure_fia"]["successes"] == 0
  tests = {(t["a"], t["b"]): t for t in result["comparisons"]}
  assert set(tests) >= {("accent", "fia"), ("accent", "pure_fia"), ("accent", "placebo_accent"),
                        ("fia", "placebo_fia"), ("pure_fia", "placebo_pure_fia"),
                        ("accent", "noise_accent"), ("fia", "noise_fia")}
  assert ("accent", "noise_fia") not in tests
  vs_noise = tests[("accent", "noise_accent")]  # accent wins for user 0, the control for none
  assert (vs_noise["only_a"], vs_noise["only_b"], vs_noise["size_p"]) == (1, 0, None)
  vs_fia = tests[("accent", "fia")]
  assert (vs_fia["only_a"], vs_fia["only_b"], vs_fia["size_pairs"]) == (0, 0, 2)
  # sizes (1, 2) vs (3, 2): d = (-2, 0), t = -1 on 1 df (Cauchy): p = 1/2 + atan(-1) / pi.
  assert vs_fia["size_t"] == pytest.approx(-1.0) and vs_fia["size_p"] == pytest.approx(0.25)
  assert tests[("accent", "placebo_accent")]["only_a"] == 2


def test_resume_skips_finished_k(tmp_path):
  verifier, calls = FakeVerifier(), []
  explain = lambda k: calls.append(k) or fake_explain(k)
  kwargs = dict(verify=verifier, train=TRAIN, work_dir=tmp_path, config={"a": 1}, seed=0,
                log=lambda _: None)
  first, timings = accent_eval.run_ks((5, 10), explain=explain, **kwargs)
  assert calls == [5, 10] and len(verifier.calls) == 1 and set(timings["explain_s"]) == {5, 10}
  assert len(verifier.calls[0]) == timings["verified_records"] == 2 * 12  # k=5 and k=10
  assert all(v.explanation.extra["k"] == 5 for v in first[5])
  second, timings = accent_eval.run_ks((5, 10, 20), explain=explain, **kwargs)
  assert calls == [5, 10, 20] and len(verifier.calls) == 2 and set(timings["explain_s"]) == {20}
  assert len(verifier.calls[1]) == 12 and list(second) == [5, 10, 20]
  assert second[5] == first[5]
  accent_eval.run_ks((5,), explain=explain, **{**kwargs, "config": {"a": 2}})
  assert calls == [5, 10, 20, 5]  # another config starts afresh
  table = accent_eval.table(second, range(USERS), {("accent", 5): (57.3, 4.73)})
  row = next(r for r in table["rows"] if (r["method"], r["k"], r["metric"]) == (
      "accent", 5, "cf_percentage"))
  assert (row["ours"], row["paper"]) == (50.0, 57.3)
  assert "placebo_accent" in accent_eval.markdown(table)


def runner_settings(tmp_path, **overrides):
  base = dict(dataset="synthetic", data_dir=None, model="ncf", seed=0, preset="smoke",
              output_dir=str(tmp_path / "out"), chunk_size=1, accent_users=2,
              accent_train_steps=5, accent_verify_steps=2, accent_verify_seeds=2,
              accent_batch_size=500, accent_verify_batch_size=500)
  return {**base, **overrides}


def top1_explainer(model, params, train, users):
  """A fake explainer: each user's two first history items, top-1 replaced by top-2."""
  from cfjax import rank
  from cfjax.evaluate import jitted_scores, seen_rows
  scores = np.asarray(jitted_scores(model)(params, np.asarray(users, np.int32)))
  top = rank.top_k(scores, seen_rows(train, users), 2)
  return lambda k: {m: [ExplanationRecord(int(u), int(t[0]), train.history_items(int(u))[:2],
                                          int(t[1]), m, {}) for u, t in zip(users, top)]
                    for m in accent_eval.METHODS}


def test_runner_with_fake_explainer_and_resume(tmp_path, capsys):
  settings = runner_settings(tmp_path)
  markdown = accent_table1.run(settings, explainer=top1_explainer, progress=False)
  out = tmp_path / "out"
  for name in ("config.json", "explanations.jsonl", "rows.csv", "table.md", "table.json"):
    assert (out / name).is_file(), name
  table = json.loads((out / "table.json").read_text())
  assert len(table["rows"]) == 3 * 9 * 2 and "57.300" in markdown  # paper value beside ours
  assert len(read_jsonl(out / "explanations.jsonl", VerifiedRecord)) == 3 * 6 * 2
  assert accent_table1.run(settings, explainer=top1_explainer, progress=False) == markdown
  assert "not recomputing" in capsys.readouterr().out


def test_runs_differing_only_in_verification_share_the_trained_original(tmp_path, monkeypatch):
  accent_table1.run(runner_settings(tmp_path), explainer=top1_explainer, progress=False)
  cached = list((tmp_path / "accent_originals").glob("*.msgpack"))
  assert len(cached) == 1

  def no_training(*args, **kwargs):
    raise AssertionError("the original should come from the cache")

  monkeypatch.setattr(accent_table1, "train_original", no_training)
  other = runner_settings(tmp_path, output_dir=str(tmp_path / "other"), accent_verify_steps=3)
  accent_table1.run(other, explainer=top1_explainer, progress=False)
  config = json.loads((tmp_path / "other" / "config.json").read_text())
  assert config["metrics"]["original_model"] == str(cached[0])
  with pytest.raises(AssertionError, match="from the cache"):  # another seed: another original
    accent_table1.run(runner_settings(tmp_path, output_dir=str(tmp_path / "third"), seed=1),
                      explainer=top1_explainer, progress=False)


def test_runner_refuses_rcf(tmp_path):
  with pytest.raises(ValueError, match="RCF is not implemented yet"):
    accent_table1.run(runner_settings(tmp_path, model="rcf"))
  accent_table1.FLAGS(["accent_table1", "--model=rcf"])  # the flag parser accepts it
  try:
    assert accent_table1.settings_from_flags()["model"] == "rcf"
  finally:
    accent_table1.FLAGS.unparse_flags()


def _has_accent_data() -> bool:
  root = pathlib.Path(os.environ.get("CFJAX_DATA_DIR", "~/.cache/cfjax")).expanduser()
  return (root / "accent-ml100k").is_dir()


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.skipif(not _has_accent_data(), reason="needs accent-ml100k under CFJAX_DATA_DIR")
def test_smoke_preset_on_accent_ml100k(tmp_path):
  explain = pytest.importorskip("cfjax.explain", reason="cfjax.explain has not landed")
  if not hasattr(explain, "explain_accent_family"):
    pytest.skip("cfjax.explain.explain_accent_family has not landed")
  accent_table1.FLAGS(["accent_table1", "--preset=smoke", f"--output_dir={tmp_path / 'out'}"])
  try:
    settings = accent_table1.settings_from_flags()
  finally:
    accent_table1.FLAGS.unparse_flags()
  assert (settings["dataset"], settings["model"], settings["accent_users"]) == (
      "accent-ml100k", "ncf", 6)
  markdown = accent_table1.run(settings, progress=False)
  table = json.loads((tmp_path / "out" / "table.json").read_text())
  assert table["users"] == 6 and "placebo_accent" in markdown
