"""Tests for cfjax.data: loaders, errors, synthetic data and transforms."""

import os
import pathlib

import numpy as np
import pytest

from cfjax import data as cd
from cfjax.data import DatasetError, Interactions
from cfjax.data.loaders import ModifiedDataWarning

# The small files below stand in for the real ones under their names: their checksums differ
# on purpose, so these tests allow modified data (tests/test_bad_input.py checks the refusal).
pytestmark = pytest.mark.filterwarnings("ignore::cfjax.data.loaders.ModifiedDataWarning")


@pytest.fixture(autouse=True)
def allow_modified_data(monkeypatch):
  monkeypatch.setenv("CFJAX_ALLOW_MODIFIED_DATA", "1")


def _toy(ratings=None, users=(0, 0, 0, 1, 1, 2), items=(0, 1, 2, 0, 3, 3), num_users=3,
         num_items=4, timestamp=None):
  ratings = (5, 3, 1, 4, 2, 5) if ratings is None else ratings
  return Interactions(
      user=np.asarray(users, np.int32), item=np.asarray(items, np.int32),
      rating=np.asarray(ratings, np.float32), num_users=num_users, num_items=num_items,
      timestamp=None if timestamp is None else np.asarray(timestamp, np.int64),
      user_ids=np.asarray([10, 20, 30]), item_ids=np.asarray([100, 200, 300, 400]),
      item_titles=("a", "b", "c", "d"), name="toy")


def _write_ml100k(folder: pathlib.Path, u_data: str) -> pathlib.Path:
  sub = folder / "ml-100k"
  sub.mkdir(parents=True)
  (sub / "u.data").write_text(u_data)
  titles = "1|Toy Story (1995)|x\n2|Mis\xe9rables|x\n5|Five|x\n"
  (sub / "u.item").write_bytes(titles.encode("latin-1"))
  return sub


# --- loaders and errors ---------------------------------------------------------------------

def test_load_small_ml100k_reindexes_and_keeps_file_order(tmp_path):
  _write_ml100k(tmp_path, "7\t5\t4\t100\n3\t1\t2\t50\n7\t2\t5\t70\n")
  d = cd.load("movielens", data_dir=tmp_path, download=False)
  assert d.name == "movielens-100k"
  assert (d.num_users, d.num_items, len(d)) == (2, 3, 3)
  np.testing.assert_array_equal(d.user, [1, 0, 1])
  np.testing.assert_array_equal(d.item, [2, 0, 1])
  np.testing.assert_array_equal(d.user_ids, [3, 7])
  np.testing.assert_array_equal(d.item_ids, [1, 2, 5])
  assert d.item_titles == ("Toy Story (1995)", "Misérables", "Five")
  assert d.user.dtype == np.int32 and d.item.dtype == np.int32 and d.rating.dtype == np.float32
  np.testing.assert_array_equal(d.timestamp, [100, 50, 70])


@pytest.mark.parametrize("bad_line, problem", [
    ("2\t3\t4\n", "expected 4"),
    ("2\t3\t4\t5\t6\n", "expected 4"),
    ("2\t3\tfive\t9\n", "rating 'five'"),
    ("2\tx\t4\t9\n", "item 'x'"),
    ("\n", "expected 4"),
])
def test_malformed_u_data_names_file_and_line(tmp_path, bad_line, problem):
  _write_ml100k(tmp_path, "1\t1\t5\t10\n1\t2\t3\t11\n" + bad_line + "2\t1\t4\t12\n")
  with pytest.raises(DatasetError) as e:
    cd.load("movielens-100k", data_dir=tmp_path, download=False)
  message = str(e.value)
  assert "u.data" in message and "line 3" in message and problem in message
  assert "\n" not in message


def test_a_modified_file_warns_when_allowed(tmp_path):
  _write_ml100k(tmp_path, "7\t5\t4\t100\n")
  with pytest.warns(ModifiedDataWarning, match=r"u.data has sha256 .* \(modified or truncated\)"):
    cd.load("movielens", data_dir=tmp_path, download=False, allow_modified_data=True)


def test_unknown_dataset_lists_known_names():
  with pytest.raises(DatasetError) as e:
    cd.load("netflux")
  message = str(e.value)
  assert "\n" not in message and "'netflux'" in message
  for name in cd.available_datasets():
    assert name in message
  assert isinstance(e.value, ValueError)


def test_canonical_names_resolve_every_alias():
  assert cd.canonical_name(" MovieLens ") == "movielens-100k"
  assert cd.canonical_name("amazon") == "amazon-digital-music"
  assert cd.canonical_name("ml1m") == cd.canonical_name("movielens-1m") == "ml-1m"
  with pytest.raises(DatasetError, match="unknown dataset 'ml-10m'"):
    cd.canonical_name("ml-10m")


def test_netflix_without_its_file_says_where_to_put_it(tmp_path):
  with pytest.raises(DatasetError, match="missing data_small.csv.*Cornac") as e:
    cd.load("netflix", data_dir=tmp_path, download=False)
  assert "\n" not in str(e.value)


def test_missing_files_without_download(tmp_path, monkeypatch):
  monkeypatch.setenv("CFJAX_NO_DOWNLOAD", "1")
  with pytest.raises(DatasetError) as e:
    cd.load("movielens-100k", data_dir=tmp_path)
  message = str(e.value)
  assert "\n" not in message
  assert "u.data" in message and "u.item" in message
  assert str(tmp_path / "ml-100k") in message and "CFJAX_DATA_DIR" in message
  with pytest.raises(DatasetError, match="ratings_uir.csv"):
    cd.load("ml-1m", data_dir=tmp_path, download=False)


def test_download_failure_is_one_line(tmp_path, monkeypatch):
  def offline(url, timeout=5.0):
    raise OSError("network is unreachable")
  monkeypatch.setattr(cd.paths, "fetch", offline)
  with pytest.raises(DatasetError) as e:
    cd.load("amazon", data_dir=tmp_path, download=True)
  message = str(e.value)
  assert "\n" not in message and "rating.txt" in message and "network is unreachable" in message


def test_download_checks_sha256(tmp_path, monkeypatch):
  monkeypatch.setattr(cd.paths, "fetch", lambda url, timeout=5.0: b"1\t1\t5\t1\n")
  with pytest.raises(DatasetError, match="sha256"):
    cd.load("accent-ml100k", data_dir=tmp_path, download=True)
  assert not (tmp_path / "accent-ml100k" / "movielens_train.tsv").exists()


def test_data_dir_resolution(tmp_path, monkeypatch):
  monkeypatch.setenv("CFJAX_DATA_DIR", str(tmp_path / "env"))
  assert cd.data_dir(tmp_path / "flag") == tmp_path / "flag"
  assert cd.data_dir() == tmp_path / "env"
  monkeypatch.delenv("CFJAX_DATA_DIR")
  assert cd.data_dir() == pathlib.Path("~/.cache/cfjax").expanduser()


def test_load_amazon_string_ids(tmp_path):
  sub = tmp_path / "amazon-digital-music"
  sub.mkdir()
  (sub / "rating.txt").write_text("B,x9,5,10\nA,x1,4,11\nB,x1,3,12\n")
  d = cd.load("amazon", data_dir=tmp_path, download=False)
  assert d.name == "amazon-digital-music"
  assert list(d.user_ids) == ["A", "B"] and list(d.item_ids) == ["x1", "x9"]
  np.testing.assert_array_equal(d.user, [1, 0, 1])
  (sub / "rating.txt").write_text("B,x9,5,10\nA,x1,4\n")
  with pytest.raises(DatasetError, match=r"rating.txt: line 2: expected 4"):
    cd.load("amazon", data_dir=tmp_path, download=False)


# --- synthetic --------------------------------------------------------------------------------

def test_synthetic_is_deterministic_and_valid():
  a = cd.make_synthetic(num_users=50, num_items=80, dim=4, density=0.05, seed=3)
  b = cd.load("synthetic", num_users=50, num_items=80, dim=4, density=0.05, seed=3)
  c = cd.make_synthetic(num_users=50, num_items=80, dim=4, density=0.05, seed=4)
  assert cd.data_checksum(a) == cd.data_checksum(b) != cd.data_checksum(c)
  assert (a.num_users, a.num_items) == (50, 80)
  assert a.user_counts.min() >= 5
  assert set(np.unique(a.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
  pairs = a.user.astype(np.int64) * a.num_items + a.item
  assert len(np.unique(pairs)) == len(a)
  with pytest.raises(ValueError, match="density"):
    cd.make_synthetic(density=0.0)


def test_synthetic_has_low_rank_signal():
  d = cd.make_synthetic(num_users=200, num_items=100, dim=2, density=1.0, seed=0, noise=0.1)
  matrix = np.zeros((d.num_users, d.num_items))
  matrix[d.user, d.item] = d.rating
  singular = np.linalg.svd(matrix - matrix.mean(), compute_uv=False)
  assert (singular[:2] ** 2).sum() > 0.8 * (singular ** 2).sum()


# --- transforms -------------------------------------------------------------------------------

def test_random_split_deterministic_disjoint_covering():
  d = cd.make_synthetic(num_users=30, num_items=40, seed=1)
  train, test = cd.random_split(d, train_fraction=0.7, seed=5)
  train2, _ = cd.random_split(d, train_fraction=0.7, seed=5)
  other, _ = cd.random_split(d, train_fraction=0.7, seed=6)
  assert cd.data_checksum(train) == cd.data_checksum(train2) != cd.data_checksum(other)
  assert len(train) == round(0.7 * len(d)) and len(train) + len(test) == len(d)
  key = lambda x: set(zip(x.user.tolist(), x.item.tolist()))
  assert key(train).isdisjoint(key(test)) and key(train) | key(test) == key(d)
  assert (train.num_users, train.num_items) == (d.num_users, d.num_items)
  for bad in (0.0, 1.0, 1.5):
    with pytest.raises(ValueError, match="train_fraction"):
      cd.random_split(d, train_fraction=bad, seed=0)


def test_per_user_holdout_counts_and_time():
  d = _toy(timestamp=(5, 9, 1, 3, 3, 7))
  # user 0: latest is item 1 (t=9); user 1: tie at t=3 -> later row (item 3); user 2 has 1 row.
  with pytest.raises(ValueError, match="min_user=2"):
    cd.per_user_holdout(d, holdout=1, seed=0)
  d2 = cd.filter_min_interactions(d, min_user=2)
  train, test = cd.per_user_holdout(d2, holdout=1, by_time=True)
  assert sorted(zip(test.user.tolist(), test.item.tolist())) == [(0, 1), (1, 3)]
  assert len(train) == 3
  s = cd.make_synthetic(num_users=20, num_items=30, seed=2)
  a, b = cd.per_user_holdout(s, holdout=2, seed=9)
  a2, b2 = cd.per_user_holdout(s, holdout=2, seed=9)
  assert cd.data_checksum(b) == cd.data_checksum(b2)
  np.testing.assert_array_equal(b.user_counts, 2)
  np.testing.assert_array_equal(a.user_counts + b.user_counts, s.user_counts)
  a, b = cd.per_user_holdout(s, holdout=0.2, seed=1)
  np.testing.assert_array_equal(b.user_counts, np.clip(np.round(0.2 * s.user_counts), 1, None))
  with pytest.raises(ValueError, match="seed"):
    cd.per_user_holdout(s, holdout=1)
  with pytest.raises(ValueError, match="holdout"):
    cd.per_user_holdout(s, holdout=0, seed=0)
  with pytest.raises(ValueError, match="holdout"):
    cd.per_user_holdout(s, holdout=1.0, seed=0)


def test_filter_min_interactions_hand_checked():
  d = _toy()
  # user counts [3, 2, 1]; min_user=2 drops user 2 (raw 30); item 3 keeps 1 row (from user 1).
  f = cd.filter_min_interactions(d, min_user=2)
  assert (f.num_users, f.num_items, len(f)) == (2, 4, 5)
  # Adding min_item=2: item counts after user filter [2,1,1,1] -> keep only item 0 (raw 100);
  # then users 0 and 1 each have 1 row < 2 -> nothing left.
  with pytest.raises(ValueError, match="lower the thresholds"):
    cd.filter_min_interactions(d, min_user=2, min_item=2)
  g = cd.filter_min_interactions(d, min_item=2)  # items 0 and 3 (2 rows each)
  assert (g.num_users, g.num_items) == (3, 2)
  np.testing.assert_array_equal(g.item_ids, [100, 400])
  assert g.item_titles == ("a", "d")
  np.testing.assert_array_equal(g.user, [0, 1, 1, 2])
  np.testing.assert_array_equal(g.item, [0, 0, 1, 1])
  np.testing.assert_array_equal(g.rating, [5, 4, 2, 5])
  with pytest.raises(ValueError, match="min_user"):
    cd.filter_min_interactions(d, min_user=-1)


def test_binarize_keeps_strictly_above():
  d = _toy()
  b = cd.binarize(d, keep_above=3)
  np.testing.assert_array_equal(b.user, [0, 1, 2])
  np.testing.assert_array_equal(b.item, [0, 0, 3])
  np.testing.assert_array_equal(b.rating, [1.0, 1.0, 1.0])
  assert b.rating.dtype == np.float32 and b.num_items == d.num_items
  assert len(cd.binarize(d, keep_above=2.5)) == 4
  with pytest.raises(ValueError, match="keep_above"):
    cd.binarize(d, keep_above=float("nan"))


def test_checksum_changes_with_content():
  d = _toy()
  e = _toy(ratings=(5, 3, 1, 4, 2, 4))
  assert cd.data_checksum(d) == cd.data_checksum(_toy()) != cd.data_checksum(e)


def test_interactions_history_rows_and_rows_of():
  d = _toy(users=(1, 0, 1, 0, 2, 1), items=(3, 0, 1, 2, 3, 0))
  np.testing.assert_array_equal(d.history_rows(1), [0, 2, 5])
  np.testing.assert_array_equal(d.history_items(1), [3, 1, 0])
  np.testing.assert_array_equal(d.rows_of(1, [0, 3]), [5, 0])
  with pytest.raises(ValueError, match="no training interaction"):
    d.rows_of(0, [3])
  np.testing.assert_array_equal(d.user_counts, [2, 3, 1])


# --- real data (CFJAX_DATA_DIR) ---------------------------------------------------------------

def _real(name, folder, files):
  root = os.environ.get("CFJAX_DATA_DIR")
  if not root:
    pytest.skip("CFJAX_DATA_DIR is not set")
  missing = [f for f in files if not (pathlib.Path(root) / folder / f).is_file()]
  if missing:
    pytest.skip(f"{root}/{folder} lacks {', '.join(missing)}")
  return cd.load(name, download=False)


@pytest.mark.realdata
def test_real_movielens_100k():
  d = _real("movielens-100k", "ml-100k", ("u.data", "u.item"))
  assert (len(d), d.num_users, d.num_items) == (100_000, 943, 1682)
  assert d.item_titles[int(np.flatnonzero(d.item_ids == 1)[0])] == "Toy Story (1995)"
  assert d.user_counts.min() >= 20
  assert (d.user_ids[d.user[0]], d.item_ids[d.item[0]], d.rating[0]) == (196, 242, 3.0)


@pytest.mark.realdata
def test_real_accent():
  d = _real("accent-ml100k", "accent-ml100k", ("movielens_train.tsv",))
  assert (len(d), d.num_users, d.num_items) == (61_054, 452, 1600)
  # File order kept: the first line is "81 298 5 879022858".
  assert (d.user_ids[d.user[0]], d.item_ids[d.item[0]], d.rating[0], d.timestamp[0]) == \
      (81, 298, 5.0, 879022858)
  if d.item_titles is not None:  # needs ml-100k next to it
    assert d.item_titles[0] == "Toy Story (1995)"


@pytest.mark.realdata
def test_real_ml1m():
  d = _real("ml-1m", "ml-1m", ("ratings_uir.csv",))
  assert (len(d), d.num_users, d.num_items) == (1_000_209, 6040, 3706)
  assert d.timestamp is None
  if d.item_titles is not None:
    assert d.item_titles[0] == "Toy Story (1995)"


@pytest.mark.realdata
def test_real_amazon():
  d = _real("amazon", "amazon-digital-music", ("rating.txt",))
  assert (len(d), d.num_users, d.num_items) == (64_706, 5541, 3568)
  assert d.user_ids[d.user[0]] == "A3EBHHCZO6V2A4"
