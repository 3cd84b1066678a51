"""The one results writer: what it writes, when it reuses, and its lock."""

import json

import pytest

from cfjax import util
from cfjax.evaluate.results import DirectoryBusyError, ResultsDir, comparable, provenance


def config(**extra):
  return {"config": {"steps": 3}, "data": {"sha256": "abc"}, **provenance(), **extra}


def write(results, record):
  return results.write(config=record, records=[], rows=[{"a": 1, "b": None}],
                       table={"k": {1: 0.5}}, markdown="| t |\n")


def test_write_then_finished_with_the_same_config_only(tmp_path):
  results = ResultsDir(tmp_path)
  table = write(results, config(timings={"total_s": 1.0}))
  assert table == {"k": {"1": 0.5}}  # as read back from table.json: JSON keys
  assert sorted(p.name for p in tmp_path.iterdir()) == [
      "config.json", "explanations.jsonl", "rows.csv", "table.json", "table.md"]
  assert (tmp_path / "rows.csv").read_text() == "a,b\n1,\n"
  assert results.finished(config(timings={"total_s": 9.0}, metrics={"x": 1})) == table
  assert results.finished(dict(config(), config={"steps": 4})) is None
  assert results.finished(dict(config(), data={"sha256": "other"})) is None


def test_a_change_of_library_code_means_no_reuse(tmp_path, monkeypatch):
  results = ResultsDir(tmp_path)
  write(results, config())
  assert results.finished(config()) is not None
  monkeypatch.setattr(util, "source_hash", lambda: "another-version-of-the-code")
  assert results.finished(config()) is None
  # the git commit alone (a docs-only commit) does not invalidate
  old = json.loads((tmp_path / "config.json").read_text())
  assert comparable({**old, "code": {**old["code"], "git_commit": "x"}}) == comparable(old)


def test_a_damaged_config_or_table_means_no_reuse(tmp_path):
  results = ResultsDir(tmp_path)
  write(results, config())
  (tmp_path / "table.json").write_text('{"k": ')
  assert results.finished(config()) is None


def test_work_dir_is_kept_for_the_same_config_and_emptied_otherwise(tmp_path):
  results = ResultsDir(tmp_path)
  work = results.work_dir(config())
  (work / "partial.jsonl").write_text("x")
  assert (results.work_dir(config()) / "partial.jsonl").is_file()
  assert not (results.work_dir(dict(config(), config={"steps": 4})) / "partial.jsonl").exists()


def test_the_lock_refuses_a_second_holder_and_is_released(tmp_path):
  results = ResultsDir(tmp_path / "out")
  with results.locked():
    with pytest.raises(DirectoryBusyError, match=r"out is in use by another run \(pid \d+ on "):
      with ResultsDir(tmp_path / "out").locked():
        pass
  with results.locked():  # released when the first run ended
    pass
  assert not (tmp_path / "out").exists()  # created by the lock, left empty: removed again
