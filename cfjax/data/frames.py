"""Bring your own data: `Interactions` from a pandas frame or a CSV / TSV / Parquet file.

    data = Interactions.from_pandas(df, user="userId", item="movieId", rating="rating")
    data = cfjax.data.load("ratings.csv", user="userId", item="movieId")   # implicit: no rating

Raw ids may be any hashable values (ints, strings, ...). They are re-indexed densely in sorted
order (order of first appearance when they do not sort, e.g. mixed types) and kept in
`user_ids` / `item_ids`, so `data.user_index(raw)` / `data.raw_user(dense)` map both ways.
Without a rating column the data are implicit feedback: every row has rating 1.0.
Bad input (a missing column, a NaN, a duplicate (user, item) pair, an empty frame) is a
one-line ValueError naming the column and the fix, before anything is built.
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import numpy as np

from cfjax.data.interactions import Interactions

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".csv.gz", ".tsv.gz")


def is_table_path(name) -> bool:
  """Whether `name` names a table file (by suffix, or an existing file) rather than a
  registered dataset."""
  text = str(name)
  return text.lower().endswith(TABLE_SUFFIXES) or (os.sep in text and os.path.isfile(text))


def _check_distinct_spellings(uniques: np.ndarray, column: str, source: str) -> None:
  """Refuses raw ids of mixed types that read the same (int 5 and str '5'): they would be two
  users (or items) though a person means one."""
  spelled: dict[str, object] = {}
  for raw in uniques:
    other = spelled.setdefault(str(raw), raw)
    if other is not raw:  # two distinct raw ids with one spelling: mixed types
      raise ValueError(f"{source}: column {column!r} holds both {other!r} "
                       f"({type(other).__name__}) and {raw!r} ({type(raw).__name__}), which "
                       "would be two ids; give the column one type (df[" + repr(column)
                       + "] = df[" + repr(column) + "].astype(str))")


def _dense_ids(values: np.ndarray, column: str = "id",
               source: str = "interactions") -> tuple[np.ndarray, np.ndarray]:
  """(raw ids by dense id [K], dense id of each row int32[N]): sorted raw ids when they sort,
  else in order of first appearance. Mixed-type ids that print the same are refused."""
  import pandas as pd
  try:
    codes, uniques = pd.factorize(values, sort=True)
  except TypeError:  # values that do not sort (mixed types)
    codes, uniques = pd.factorize(values, sort=False)
  uniques = np.asarray(uniques)
  if uniques.dtype.kind == "O":
    _check_distinct_spellings(uniques, column, source)
    kinds = {type(u) for u in uniques}
    if len(kinds) == 1 and kinds <= {str}:
      uniques = uniques.astype(str)
  return uniques, codes.astype(np.int32)


def _check_column(frame, column: str, what: str, source: str) -> None:
  if column not in frame.columns:
    raise ValueError(f"{source}: no column {column!r} for the {what} (columns: "
                     f"{', '.join(map(str, frame.columns))}); pass {what}=<one of them>")
  missing = frame[column].isna().to_numpy()
  if missing.any():
    row = int(np.argmax(missing))
    raise ValueError(f"{source}: column {column!r} ({what}) is missing (NaN) in {int(missing.sum())}"
                     f" row(s), first row {row}; drop or fill them first (df.dropna(subset="
                     f"[{column!r}]))")


def _unix_seconds(values) -> np.ndarray:
  """Unix seconds int64[N] of a datetime column, whatever its unit (pandas 3 reads datetimes
  as datetime64[us], pandas 2 as [ns]: `astype("int64")` counts the unit, not seconds) and
  time zone (aware values count from 1970-01-01 UTC)."""
  import pandas as pd
  if isinstance(values.dtype, pd.DatetimeTZDtype):
    values = values.dt.tz_convert("UTC").dt.tz_localize(None)
  return ((values - pd.Timestamp(0)) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)


def _numbers(frame, column: str, what: str, source: str) -> np.ndarray:
  import pandas as pd
  values = frame[column]
  if pd.api.types.is_datetime64_any_dtype(values):
    return _unix_seconds(values)
  converted = pd.to_numeric(values, errors="coerce")
  bad = converted.isna().to_numpy()
  if bad.any():
    row = int(np.argmax(bad))
    raise ValueError(f"{source}: column {column!r} ({what}) holds {values.iloc[row]!r} at row "
                     f"{row}, not a number; fix that row or pass another column")
  array = converted.to_numpy(dtype=np.float64)
  if not np.isfinite(array).all():
    row = int(np.argmax(~np.isfinite(array)))
    raise ValueError(f"{source}: column {column!r} ({what}) holds {array[row]} at row {row}; "
                     "values must be finite: fix or drop that row")
  return array


def from_pandas(frame, *, user: str, item: str, rating: str | None = None,
                timestamp: str | None = None, title: str | None = None,
                columns: Sequence[str] = (), name: str = "interactions") -> Interactions:
  """Builds `Interactions` from a pandas DataFrame of one interaction per row.

  Args:
    frame: the DataFrame.
    user: the column of the raw user ids (any hashable values).
    item: the column of the raw item ids (any hashable values).
    rating: the rating column, or None for implicit feedback (every rating 1.0).
    timestamp: an optional column of Unix seconds (numbers) or datetimes.
    title: an optional column of item titles (the first title seen for each item is kept).
    columns: more per-row columns to carry into training (`Interactions.columns`).
    name: the dataset name.

  Returns:
    Interactions in the frame's row order, dense ids by sorted raw id, raw ids in
    `user_ids` / `item_ids`, titles in `item_titles` when given.

  Raises:
    ValueError (one line, naming the column and the fix): an empty frame, a missing column,
      NaN ids or ratings, non-numeric ratings or timestamps, a duplicate (user, item) pair.
  """
  import pandas as pd
  if not isinstance(frame, pd.DataFrame):
    raise ValueError(f"from_pandas needs a pandas DataFrame, got {type(frame).__name__}; wrap "
                     "it with pd.DataFrame(...)")
  source = name
  if len(frame) == 0:
    raise ValueError(f"{source}: the table has no rows; pass a frame with one interaction per "
                     "row")
  for column, what in ((user, "user"), (item, "item")):
    _check_column(frame, column, what, source)
  for column, what in ((rating, "rating"), (timestamp, "timestamp"), (title, "title")):
    if column is not None:
      _check_column(frame, column, what, source)
  for column in columns:
    _check_column(frame, column, "extra column", source)
  pairs = frame.duplicated(subset=[user, item], keep=False).to_numpy()
  if pairs.any():
    first = int(np.argmax(pairs))
    key = (frame[user].iloc[first], frame[item].iloc[first])
    same = np.flatnonzero(pairs & (frame[user] == key[0]).to_numpy()
                          & (frame[item] == key[1]).to_numpy())
    raise ValueError(f"{source}: rows {same[0]} and {same[1]} both hold {user}={key[0]!r} and "
                     f"{item}={key[1]!r}; each (user, item) pair may appear once: aggregate or "
                     f"drop them (df.drop_duplicates(subset=[{user!r}, {item!r}]))")
  user_ids, user_index = _dense_ids(frame[user].to_numpy(), user, source)
  item_ids, item_index = _dense_ids(frame[item].to_numpy(), item, source)
  ratings = (np.ones(len(frame), np.float32) if rating is None
             else _numbers(frame, rating, "rating", source).astype(np.float32))
  stamps = (None if timestamp is None
            else _numbers(frame, timestamp, "timestamp", source).astype(np.int64))
  titles = None
  if title is not None:
    first_rows = np.unique(item_index, return_index=True)[1]
    titles = tuple(str(t) for t in frame[title].to_numpy()[first_rows])
  return Interactions(user=user_index, item=item_index, rating=ratings,
                      num_users=len(user_ids), num_items=len(item_ids), timestamp=stamps,
                      user_ids=user_ids, item_ids=item_ids, item_titles=titles, name=name,
                      columns={c: frame[c].to_numpy() for c in columns})


def read_table(path: str | os.PathLike, *, user: str, item: str, rating: str | None = None,
               timestamp: str | None = None, title: str | None = None,
               columns: Sequence[str] = (), sep: str | None = None,
               name: str | None = None) -> Interactions:
  """`from_pandas` of a CSV, TSV or Parquet file (one interaction per row, with a header).

  Args:
    path: the file (.csv, .tsv, .parquet; .csv.gz / .tsv.gz too).
    user: as in `from_pandas`.
    item: as in `from_pandas`.
    rating: as in `from_pandas`.
    timestamp: as in `from_pandas`.
    title: as in `from_pandas`.
    columns: as in `from_pandas`.
    sep: the field separator (default "," for .csv, tab for .tsv).
    name: the dataset name (default: the file name without its suffixes).

  Raises:
    ValueError: a missing file, an unreadable one, or any error of `from_pandas` (naming the
      file).
  """
  import pandas as pd
  path = pathlib.Path(path)
  if not path.is_file():
    raise ValueError(f"no file {path}; pass the path of a .csv, .tsv or .parquet file with one "
                     "interaction per row")
  lower = path.name.lower()
  name = name or path.name.split(".")[0]
  try:
    if lower.endswith(".parquet"):
      frame = pd.read_parquet(path)
    else:
      delimiter = sep or ("\t" if ".tsv" in lower else ",")
      frame = pd.read_csv(path, sep=delimiter)
  except ImportError as error:
    raise ValueError(f"{path}: reading Parquet needs pyarrow or fastparquet ({error}); "
                     "pip install pyarrow, or save the table as CSV") from None
  except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
    message = " ".join(str(error).split())
    raise ValueError(f"{path}: not a readable table ({message}); fix the file or pass sep=")\
        from None
  try:
    return from_pandas(frame, user=user, item=item, rating=rating, timestamp=timestamp,
                       title=title, columns=columns, name=name)
  except ValueError as error:
    raise ValueError(str(error).replace(f"{name}: ", f"{path}: ", 1)) from None
