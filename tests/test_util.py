"""The bottom layer: atomic and checked writes, JSON values, checks of numbers."""

import math

import numpy as np
import pytest

from cfjax import util


def test_atomic_writes_leave_no_temporary_files(tmp_path):
  util.atomic_write_text(tmp_path / "a" / "b.txt", "hello")
  assert (tmp_path / "a" / "b.txt").read_text() == "hello"
  assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.txt"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "drop checksum"])
def test_checked_files_notice_damage(tmp_path, damage):
  path = tmp_path / "cache.bin"
  util.save_checked(path, b"payload bytes")
  assert util.load_checked(path) == b"payload bytes"
  if damage == "truncate":
    path.write_bytes(b"payload")
  elif damage == "flip":
    path.write_bytes(b"payload byteS")
  else:
    (tmp_path / "cache.bin.sha256").unlink()
  with pytest.warns(util.DamagedFileWarning, match=r"cache.bin is damaged"):
    assert util.load_checked(path) is None
  assert util.load_checked(tmp_path / "missing.bin") is None  # nothing saved: no warning


def test_json_values_are_plain_and_nan_free():
  value = {"a": np.int64(3), "b": (np.float32(0.5), math.nan), 4: np.array([1, 2]),
           "c": np.bool_(True)}
  assert util.jsonable(value) == {"a": 3, "b": [0.5, None], "4": [1, 2], "c": True}
  assert util.to_json({"x": math.inf}) == '{\n  "x": null\n}\n'
  assert util.digest({"a": 1}) == util.digest({"a": 1}) != util.digest({"a": 2})


@pytest.mark.parametrize("value, message", [
    (2.5, "must be an integer, got 2.5"), (True, "must be an integer, got True"),
    ("3", "must be an integer"), (0, "n=0 must be >= 1")])
def test_check_int(value, message):
  with pytest.raises(ValueError, match=message):
    util.check_int(value, "n", minimum=1)
  assert util.check_int(np.int32(3), "n", minimum=1) == 3


def test_check_number():
  assert util.check_number(0.5, "x", 0, 1) == 0.5
  for value, message in ((math.nan, "finite"), (2, r"lie in \[0, 1\]"), (False, "a number")):
    with pytest.raises(ValueError, match=message):
      util.check_number(value, "x", 0, 1)


def test_code_version_names_the_source():
  version = util.code_version()
  assert version["cfjax"] and len(version["source_sha256"]) == 16
