"""Fast, validating readers for delimited text files.

Files are read with pandas (all fields as strings), then each column is checked and converted;
the first problem is reported as a `DatasetError` naming the file and the 1-based line number.
"""

from __future__ import annotations

import csv
import pathlib
import re

import numpy as np
import pandas as pd

from cfjax.data.errors import DatasetError

INT = "int"
FLOAT = "float"
STR = "str"


def _scan_structure(path: pathlib.Path, sep: str, names: tuple[str, ...], encoding: str,
                    first_line: int, skip_initial_space: bool = False) -> DatasetError:
  """Walks the file line by line and describes its first structural problem."""
  with open(path, encoding=encoding, newline="") as f:
    for lineno, line in enumerate(f, start=1):
      if lineno < first_line:
        continue
      line = line.rstrip("\r\n")
      if skip_initial_space and sep == " ":  # as pandas: a run of spaces is one separator
        fields = re.split(" +", line.lstrip(" "))
      elif skip_initial_space:  # as pandas: spaces opening the line or a field are dropped
        fields = [field.lstrip(" ") for field in line.lstrip(" ").split(sep)]
      else:
        fields = line.split(sep)
      if len(fields) != len(names):
        return DatasetError(f"{path}: line {lineno}: expected {len(names)} {sep!r}-separated "
                            f"fields ({', '.join(names)}), found {len(fields)}")
      for name, value in zip(names, fields):
        if value.strip() == "":
          return DatasetError(f"{path}: line {lineno}: field {name!r} is empty")
  return DatasetError(f"{path}: could not be parsed as {len(names)} {sep!r}-separated fields")


def _convert(values: np.ndarray, kind: str, name: str, path: pathlib.Path,
             first_line: int) -> np.ndarray:
  """Converts one string column, reporting the first bad value with its line number."""
  if kind == STR:
    return values.astype(str)
  numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
  bad = ~np.isfinite(numbers)
  what = "a finite number"
  if kind == INT:
    bad |= (numbers != np.round(numbers)) | (np.abs(numbers) >= 2.0 ** 53)
    what = "an integer below 2^53 (larger ids cannot be told apart exactly)"
  if bad.any():
    row = int(np.argmax(bad))
    raise DatasetError(f"{path}: line {row + first_line}: {name} {values[row]!r} is not {what}")
  if kind == INT:
    # Exact below 2**53 (checked above): two long ids never merge into one.
    return numbers.astype(np.int64)
  return numbers


def _read_numeric(path: pathlib.Path, sep: str, columns: tuple[tuple[str, str], ...],
                  encoding: str, first_line: int,
                  skip_initial_space: bool) -> dict[str, np.ndarray] | None:
  """The typed fast path for files of numbers only (30x faster than reading strings): the
  columns exactly as the checking path converts them, or None when any value needs that path
  (a malformed row, an empty field, a non-integer id, an id of 2^53 or more, a non-finite
  rating), which then names the problem."""
  dtypes = {name: np.int64 if kind == INT else np.float64 for name, kind in columns}
  try:
    frame = pd.read_csv(path, sep=sep, header=None, dtype=dict(enumerate(dtypes.values())),
                        na_filter=False, skip_blank_lines=False, quoting=csv.QUOTE_NONE,
                        encoding=encoding, skiprows=first_line - 1, engine="c",
                        skipinitialspace=skip_initial_space, float_precision="round_trip")
  except (ValueError, OverflowError):  # parser, empty-data and decode errors are ValueErrors
    return None
  if len(frame) == 0 or frame.shape[1] != len(columns):
    return None
  frame.columns = list(dtypes)
  out = {}
  for name, kind in columns:
    values = frame[name].to_numpy()
    bad = np.abs(values) >= 2.0 ** 53 if kind == INT else ~np.isfinite(values)
    if values.dtype != dtypes[name] or bad.any():
      return None
    out[name] = values
  return out


def read_delimited(path: pathlib.Path, *, sep: str, columns: tuple[tuple[str, str], ...],
                   header: tuple[str, ...] | None = None, encoding: str = "utf-8",
                   skip_initial_space: bool = False) -> dict[str, np.ndarray]:
  """Reads a delimited text file whose every line has exactly `len(columns)` fields.

  Args:
    path: the file.
    sep: single-character field separator.
    columns: (name, kind) per field, kind one of "int" (int64), "float" (float64), "str".
    header: expected header fields of line 1, or None when the file has no header.
    encoding: text encoding.
    skip_initial_space: drop spaces that open a line or follow a separator (trustlet's
      Epinions trust file starts every line with a space).

  Returns:
    Column name -> numpy array, rows in file order.

  Raises:
    DatasetError: naming the file and the 1-based line of the first problem.
  """
  path = pathlib.Path(path)
  names = tuple(name for name, _ in columns)
  first_line = 1
  if header is not None:
    with open(path, encoding=encoding, newline="") as f:
      got = f.readline().rstrip("\r\n").split(sep)
    if tuple(got) != tuple(header):
      raise DatasetError(f"{path}: line 1: expected header {sep.join(header)!r}, "
                         f"found {sep.join(got)!r}")
    first_line = 2
  if all(kind in (INT, FLOAT) for _, kind in columns):
    fast = _read_numeric(path, sep, columns, encoding, first_line, skip_initial_space)
    if fast is not None:
      return fast
  try:
    # No names: pandas would silently take a surplus first field of every line as the index.
    frame = pd.read_csv(path, sep=sep, header=None, dtype=str, na_filter=False,
                        skip_blank_lines=False, quoting=csv.QUOTE_NONE, encoding=encoding,
                        skiprows=first_line - 1, engine="c",
                        skipinitialspace=skip_initial_space)
  except pd.errors.EmptyDataError:
    raise DatasetError(f"{path}: file has no data rows") from None
  except pd.errors.ParserError:
    raise _scan_structure(path, sep, names, encoding, first_line,
                          skip_initial_space) from None
  except UnicodeDecodeError as e:
    raise DatasetError(f"{path}: not valid {encoding} text ({e.reason} at byte {e.start})") \
        from None
  if len(frame) == 0:
    raise DatasetError(f"{path}: file has no data rows")
  if frame.shape[1] != len(names):
    raise _scan_structure(path, sep, names, encoding, first_line, skip_initial_space)
  frame.columns = list(names)
  raw = {name: frame[name].to_numpy(dtype=object) for name in names}
  empty = np.zeros(len(frame), dtype=bool)
  for name in names:
    empty |= frame[name].str.strip().to_numpy() == ""
  if empty.any():
    raise _scan_structure(path, sep, names, encoding, first_line, skip_initial_space)
  return {name: _convert(raw[name], kind, name, path, first_line) for name, kind in columns}


def read_lines(path: pathlib.Path, *, encoding: str) -> list[str]:
  """All lines of a small text file without their line endings (blank trailing lines dropped)."""
  with open(path, encoding=encoding, newline="") as f:
    lines = [line.rstrip("\r\n") for line in f]
  while lines and lines[-1].strip() == "":
    lines.pop()
  return lines


def read_id_title(path: pathlib.Path, *, sep: str, encoding: str,
                  min_fields: int) -> dict[int, str]:
  """Reads `id<sep>title<sep>...` lines (u.item, movies.dat) into {integer id: title}.

  Raises:
    DatasetError: naming the file and line of a short line or a non-integer id.
  """
  titles = {}
  for lineno, line in enumerate(read_lines(path, encoding=encoding), start=1):
    fields = line.split(sep)
    if len(fields) < min_fields:
      raise DatasetError(f"{path}: line {lineno}: expected at least {min_fields} {sep!r}-separated "
                         f"fields, found {len(fields)}")
    try:
      titles[int(fields[0])] = fields[1]
    except ValueError:
      raise DatasetError(f"{path}: line {lineno}: id {fields[0]!r} is not an integer") from None
  return titles
