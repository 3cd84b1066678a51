"""load("epinions"): trustlet's ratings with the trust network, and LCER's preprocessing."""

import os
import pathlib
import shutil

import numpy as np
import pytest

from cfjax.data import DatasetError, SocialInteractions, lcer_positives, load
from cfjax.data.loaders import ModifiedDataWarning
from cfjax.data.social import EPINIONS_SHA256
from tests.conftest import needs_data

RATINGS = "1 100 4\n7 100 5\n1 101 5\n3 102 2\n7 103 4\n1 104 4\n"
# User 9 has no rating; 3 -> 3 is a self-trust row, as the real file has 181 of them.
TRUST = " 7 1 1\n 1 9 1\n 3 3 1\n 1 7 1\n"


def write_epinions(root: pathlib.Path, ratings: str = RATINGS, trust: str = TRUST):
  folder = root / "epinions"
  folder.mkdir(parents=True, exist_ok=True)
  (folder / "ratings_data.txt").write_text(ratings)
  (folder / "trust_data.txt").write_text(trust)
  return folder


def load_small(root, **kwargs):
  with pytest.warns(ModifiedDataWarning):  # the small files are not the published ones
    return load("epinions", data_dir=root, download=False, allow_modified_data=True, **kwargs)


def test_parses_ratings_and_the_leading_space_trust_file(tmp_path):
  write_epinions(tmp_path)
  data = load_small(tmp_path)
  assert isinstance(data, SocialInteractions) and data.name == "epinions"
  assert (data.num_users, data.num_items, len(data)) == (3, 5, 6)
  np.testing.assert_array_equal(data.user_ids, [1, 3, 7])
  np.testing.assert_array_equal(data.user, [0, 2, 0, 1, 2, 0])
  np.testing.assert_array_equal(data.rating, [4, 5, 5, 2, 4, 4])
  np.testing.assert_array_equal(data.trust_raw, [[7, 1], [1, 9], [3, 3], [1, 7]])
  # Dense pairs: only statements between users with ratings (1 -> 9 is left out), file order.
  np.testing.assert_array_equal(data.trust, [[2, 0], [1, 1], [0, 2]])
  assert data.trust.dtype == np.int32


def test_trust_follows_the_users_lcer_preprocessing_keeps(tmp_path):
  ratings = "".join(f"1 {i} 5\n" for i in range(10, 16)) + "".join(
      f"7 {i} 4\n" for i in range(10, 15)) + "3 10 5\n3 11 5\n3 12 3\n7 20 3\n"
  write_epinions(tmp_path, ratings=ratings)
  data = load_small(tmp_path)
  kept = lcer_positives(data)
  assert isinstance(kept, SocialInteractions)
  np.testing.assert_array_equal(kept.user_ids, [1, 7])  # user 3 has 2 positives < 5
  np.testing.assert_array_equal(kept.item_ids, [10, 11, 12, 13, 14, 15])  # item 20: rating 3
  assert (len(kept), kept.implicit) == (11, True)
  np.testing.assert_array_equal(kept.trust, [[1, 0], [0, 1]])
  np.testing.assert_array_equal(kept.trust_raw, data.trust_raw)


def test_a_modified_file_is_refused_with_its_checksum(tmp_path):
  write_epinions(tmp_path)
  with pytest.raises(DatasetError, match=r"ratings_data\.txt has sha256 .*, not the known "
                     r"6da14f79369c\.\.\. of epinions \(modified or truncated\); restore") as e:
    load("epinions", data_dir=tmp_path, download=False, allow_modified_data=False)
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", ["epinions", "trustlet-epinions"])
def test_missing_files_say_where_they_come_from(tmp_path, name):
  with pytest.raises(DatasetError) as e:
    load(name, data_dir=tmp_path, download=True)
  message = str(e.value)
  assert "\n" not in message
  assert "missing ratings_data.txt, trust_data.txt" in message
  assert str(tmp_path / "epinions") in message and "trustlet.org" in message
  assert "no automatic download exists" in message


@pytest.mark.parametrize("trust, problem", [
    (" 7 1 1\n 1 9\n", "line 2: expected 3 ' '-separated fields"),
    (" 7 1 1\n 1 9 -1\n", "line 2: value -1 is not 1"),
    (" 7 1 1\n 1 x 1\n", "line 2: target 'x' is not an integer"),
    (" 7 -1 1\n", "line 1: target id -1 is negative"),
])
def test_a_malformed_trust_row_is_named(tmp_path, trust, problem):
  write_epinions(tmp_path, trust=trust)
  with pytest.raises(DatasetError, match=problem) as e:
    load_small(tmp_path)
  assert "trust_data.txt" in str(e.value) and "\n" not in str(e.value)


def test_a_surplus_field_on_every_line_is_refused_not_shifted(tmp_path):
  # pandas would take the first of 4 fields as the index and shift the columns silently.
  write_epinions(tmp_path, ratings="1 100 4 0\n7 100 5 0\n")
  with pytest.raises(DatasetError, match=r"ratings_data\.txt: line 1: expected 3 ' '-separated "
                     r"fields \(user, item, rating\), found 4"):
    load_small(tmp_path)


def test_social_interactions_refuses_bad_trust_shapes():
  rows = dict(user=np.zeros(1, np.int32), item=np.zeros(1, np.int32),
              rating=np.ones(1, np.float32), num_users=1, num_items=1)
  with pytest.raises(ValueError, match=r"shape \[T, 2\]"):
    SocialInteractions(**rows, user_ids=np.asarray([5]), trust_raw=np.zeros((3,), np.int64))
  with pytest.raises(ValueError, match="needs user_ids"):
    SocialInteractions(**rows, trust_raw=np.zeros((0, 2), np.int64))


class TestRealFiles:
  pytestmark = needs_data("epinions", *EPINIONS_SHA256)

  @pytest.fixture(scope="class")
  def epinions(self):
    return load("epinions", download=False)

  def test_raw_counts(self, epinions):
    assert (len(epinions), epinions.num_users, epinions.num_items) == (664_824, 40_163, 139_738)
    assert epinions.trust_raw.shape == (487_183, 2)
    assert np.bincount(epinions.rating.astype(int)).tolist() == \
        [0, 43_228, 50_678, 75_525, 194_340, 301_053]
    # First lines: "1 100 4" and " 22605 42915 1".
    assert (epinions.raw_user(epinions.user[0]), epinions.raw_item(epinions.item[0])) == (1, 100)
    assert epinions.trust_raw[0].tolist() == [22605, 42915]
    assert epinions.trust.shape == (442_979, 2)  # both users rated something

  def test_lcer_table_1_row(self, epinions):
    kept = lcer_positives(epinions)
    assert (kept.num_users, kept.num_items, len(kept)) == (20_634, 115_798, 460_451)
    assert kept.trust.shape == (357_044, 2)

  def test_a_truncated_copy_is_refused(self, tmp_path):
    folder = tmp_path / "epinions"
    folder.mkdir()
    source = pathlib.Path(os.environ["CFJAX_DATA_DIR"]) / "epinions"
    shutil.copy(source / "trust_data.txt", folder / "trust_data.txt")
    (folder / "ratings_data.txt").write_bytes((source / "ratings_data.txt").read_bytes()[:-8])
    with pytest.raises(DatasetError, match=r"ratings_data\.txt has sha256 .*modified or "
                       "truncated"):
      load("epinions", data_dir=tmp_path, download=False, allow_modified_data=False)
