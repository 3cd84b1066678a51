"""Bring your own data: a CSV with string ids gives the same explanations, in raw ids."""

import numpy as np
import pandas as pd
import pytest

from cfjax import data as cfdata
from cfjax.data import Interactions, make_synthetic
from cfjax.data.raw_ids import raw_columns
from cfjax.explain import ExplainContext, get_explainer, run_explainer, top1_targets
from cfjax.models import make_mf
from cfjax.records import read_jsonl, write_jsonl
from cfjax.train import RetrainProtocol, to_train_data, train_original


def string_frame(data: Interactions) -> pd.DataFrame:
  """The rows of `data` with string ids that sort like the dense ids, and titles."""
  return pd.DataFrame({"customer": [f"c{u:03d}" for u in data.user],
                       "product": [f"sku-{i:04d}" for i in data.item],
                       "stars": data.rating, "name": [f"Product {i}" for i in data.item]})


def test_a_csv_with_string_ids_round_trips_to_the_same_explanations_with_raw_ids(tmp_path):
  dense = make_synthetic(num_users=20, num_items=25, density=0.3, seed=2, min_per_user=5)
  path = tmp_path / "ratings.csv"
  string_frame(dense).sample(frac=1.0, random_state=0).to_csv(path, index=False)  # any order
  mine = cfdata.load(str(path), user="customer", item="product", rating="stars", title="name")
  assert mine.name == "ratings" and (mine.num_users, mine.num_items) == (20, 25)
  assert mine.user_ids[3] == "c003" and mine.raw_item(7) == "sku-0007"
  assert mine.user_index("c011") == 11 and mine.item_index("sku-0024") == 24
  assert mine.item_title(5) == "Product 5"
  # the same rows in file order -> the same model and explanations as the dense data
  order = np.lexsort((mine.item, mine.user))
  mine = mine.select(order)
  reference = dense.select(np.lexsort((dense.item, dense.user)))
  np.testing.assert_array_equal(mine.user, reference.user)
  np.testing.assert_array_equal(mine.item, reference.item)
  records = {}
  for name, data in (("dense", reference), ("csv", mine)):
    model = make_mf(data.num_users, data.num_items, dim=4)
    original = train_original(model, to_train_data(data), RetrainProtocol(steps=30, seeds=(0,)))
    ctx = ExplainContext.from_original(model, data, original, RetrainProtocol(steps=30))
    targets = top1_targets(ctx, np.arange(4))
    records[name] = run_explainer(get_explainer("knn", e=2), ctx, targets)
  for dense_record, csv_record in zip(records["dense"], records["csv"]):
    assert (dense_record.user, dense_record.item, dense_record.deleted_items) == (
        csv_record.user, csv_record.item, csv_record.deleted_items)
    assert dense_record.raw is None or dense_record.raw["user"] == dense_record.user
    raw = csv_record.raw
    assert raw["user"] == f"c{csv_record.user:03d}"
    assert raw["item"] == f"sku-{csv_record.item:04d}"
    assert raw["deleted_items"] == [f"sku-{i:04d}" for i in csv_record.deleted_items]
    assert raw["item_title"] == f"Product {csv_record.item}"
  write_jsonl(tmp_path / "explanations.jsonl", records["csv"])
  assert read_jsonl(tmp_path / "explanations.jsonl") == records["csv"]
  row = raw_columns(records["csv"][0], mine)
  assert row["user_id"] == records["csv"][0].raw["user"] and "item_title" in row


def test_implicit_data_without_a_rating_column_and_mixed_id_types(tmp_path):
  frame = pd.DataFrame({"u": ["ann", "bob", "ann", 7], "i": [1, 1, 2, "x"]})
  data = Interactions.from_pandas(frame, user="u", item="i")
  assert data.implicit and data.rating.tolist() == [1.0] * 4
  assert {data.raw_user(u) for u in range(data.num_users)} == {"ann", "bob", 7}
  assert data.raw_item(data.item_index("x")) == "x"
  with pytest.raises(ValueError, match="user 'zoe' is not in"):
    data.user_index("zoe")
  path = tmp_path / "clicks.tsv"
  frame.to_csv(path, sep="\t", index=False)
  clicks = cfdata.load(path, user="u", item="i")
  assert clicks.num_users == 3 and clicks.implicit


@pytest.mark.parametrize("frame, kwargs, message", [
    (pd.DataFrame({"u": [1], "i": [2]}), dict(user="user", item="i"),
     r"no column 'user' for the user \(columns: u, i\); pass user="),
    (pd.DataFrame({"u": [1, 2], "i": [2, None]}), dict(user="u", item="i"),
     r"column 'i' \(item\) is missing \(NaN\) in 1 row\(s\), first row 1; drop or fill"),
    (pd.DataFrame({"u": [1, 2], "i": [2, 3], "r": [4.0, float("nan")]}),
     dict(user="u", item="i", rating="r"), r"column 'r' \(rating\) is missing"),
    (pd.DataFrame({"u": [1, 2], "i": [2, 3], "r": [4.0, "bad"]}),
     dict(user="u", item="i", rating="r"), r"holds 'bad' at row 1, not a number"),
    (pd.DataFrame({"u": ["a", "b", "a"], "i": ["x", "y", "x"]}), dict(user="u", item="i"),
     r"rows 0 and 2 both hold u='a' and i='x'.*drop_duplicates"),
    (pd.DataFrame({"u": [], "i": []}), dict(user="u", item="i"), r"the table has no rows"),
])
def test_bad_input_is_one_line_naming_the_column_and_the_fix(frame, kwargs, message):
  with pytest.raises(ValueError, match=message) as error:
    Interactions.from_pandas(frame, **kwargs)
  assert "\n" not in str(error.value)


def test_load_of_a_missing_file_or_column_names_the_file(tmp_path):
  with pytest.raises(ValueError, match="no file .*nope.csv"):
    cfdata.load(str(tmp_path / "nope.csv"), user="u", item="i")
  path = tmp_path / "r.csv"
  pd.DataFrame({"u": [1], "i": [2]}).to_csv(path, index=False)
  with pytest.raises(ValueError, match=rf"{path}: no column 'item'"):
    cfdata.load(str(path), user="u", item="item")


def test_verified_rows_carry_the_raw_ids():
  from cfjax.evaluate import verified_rows
  from cfjax.records import Explanation, VerifiedRecord
  frame = pd.DataFrame({"u": ["ann", "ann", "bob"], "i": ["x", "y", "x"],
                        "t": ["Film X", "Film Y", "Film X"]})
  data = Interactions.from_pandas(frame, user="u", item="i", title="t")
  from cfjax.data.raw_ids import with_raw_ids
  record = with_raw_ids(Explanation(user=1, item=1, deleted_items=(0,), method="knn"), data)
  verified = VerifiedRecord(record, 1, 3, {1: True}, 1.0, 0.5, None, None, "scratch", (0,))
  row = verified_rows([verified])[0]
  assert (row["user_id"], row["item_id"], row["deleted_item_ids"]) == ("bob", "y", "x")
  assert row["item_title"] == "Film Y" and row["user"] == 1


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_datetime_timestamps_are_unix_seconds_whatever_the_unit(unit):
  stamps = pd.to_datetime(pd.Series([874965758, 874965759]), unit="s").astype(f"datetime64[{unit}]")
  frame = pd.DataFrame({"u": [1, 2], "i": [3, 4], "t": stamps})
  data = Interactions.from_pandas(frame, user="u", item="i", timestamp="t")
  assert data.timestamp.tolist() == [874965758, 874965759]
  aware = frame.assign(t=stamps.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris"))
  assert Interactions.from_pandas(aware, user="u", item="i",
                                  timestamp="t").timestamp.tolist() == [874965758, 874965759]


def test_an_id_spelled_the_same_in_two_types_is_refused_in_one_line():
  frame = pd.DataFrame({"u": [5, "5", "ann"], "i": [1, 2, 3]}, dtype=object)
  with pytest.raises(ValueError, match=r"column 'u' holds both .*5.* which would be two ids; "
                                       r"give the column one type") as error:
    Interactions.from_pandas(frame, user="u", item="i")
  assert "\n" not in str(error.value)
