"""load("accent-rcf"): ACCENT's RCF triples and side data, checksummed, one-line errors."""

import os
import pathlib
import shutil

import numpy as np
import pytest

from cfjax.data import DatasetError, load
from cfjax.data.rcf import RCF_SHA256
from tests.conftest import needs_data

FILES = tuple(RCF_SHA256)


def copy_files(tmp_path) -> pathlib.Path:
  source = pathlib.Path(os.environ["CFJAX_DATA_DIR"]) / "accent-ml100k"
  folder = tmp_path / "accent-ml100k"
  folder.mkdir()
  for name in FILES:
    shutil.copy(source / name, folder / name)
  return folder


@pytest.mark.parametrize("name", ["accent-rcf", "rcf"])
def test_missing_files_say_where_they_come_from(tmp_path, name):
  with pytest.raises(DatasetError, match=r"accent-rcf: missing train\.csv.*hieptk/accent"):
    load(name, data_dir=tmp_path, download=False)


class TestRealFiles:
  pytestmark = needs_data("accent-ml100k", *FILES)

  def test_real_accent_rcf_counts(self):
    data = load("accent-rcf")
    assert (data.num_users, data.num_items, len(data)) == (452, 1654, 48590)
    assert data.relations.shape == (97209, 5) and data.test.shape == (99342, 3)
    assert data.num_values == {"genre": 26, "director": 1154, "actor": 3946}
    assert np.bincount(data.relations[:, 1])[1:].tolist() == [48509, 17753, 30947]
    assert (data.columns["negative"] != data.item).all()
    assert (data.rating == 1).all() and data.name == "accent-rcf"


  def test_a_modified_file_is_refused_then_its_bad_line_named(self, tmp_path):
    folder = copy_files(tmp_path)
    path = folder / "relational_data.csv"
    lines = path.read_text().splitlines()
    lines[3] = "300,7,56,684,713"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"relational_data\.csv has sha256 .*modified"):
      load("accent-rcf", data_dir=tmp_path)
    with pytest.warns(UserWarning), pytest.raises(
        DatasetError, match=r"relational_data\.csv: line 4: type 7 is not 1 \(genre\), 2 "
                            r"\(director\) or 3 \(actor\)$"):
      load("accent-rcf", data_dir=tmp_path, allow_modified_data=True)
