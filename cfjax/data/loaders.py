"""Dataset loaders by name: `load("movielens-100k")` etc., backed by the registry `DATASETS`
(`cfjax.registry.Registry`) of `DatasetSpec`s."""

from __future__ import annotations

import dataclasses
import os
import warnings
import pathlib
from typing import Callable

import numpy as np

from cfjax.data import paths
from cfjax.data.accent_ids import match_accent_to_ml100k
from cfjax.data.errors import DatasetError
from cfjax.data.frames import is_table_path, read_table
from cfjax.data.interactions import DuplicateRowsError, Interactions
from cfjax.data.rcf import RCF_SHA256, read_accent_rcf
from cfjax.data.social import EPINIONS_SHA256, TRUST_FILE, SocialInteractions, read_trust
from cfjax.data.parsing import FLOAT, INT, STR, read_delimited, read_id_title, read_lines
from cfjax.data.synthetic import make_synthetic
from cfjax.registry import Registry

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ACCENT_URL = ("https://raw.githubusercontent.com/hieptk/accent/"
              "8c6652ed5e0c9716d33b3b29b03e2b25ab429ce3/NCF/data/movielens_train.tsv")
ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
AMAZON_URL = ("https://raw.githubusercontent.com/PreferredAI/static-data/"
              "47a1737149dffcf3c2514bf9efa25a7afb9bcf42/cornac/datasets/amazon_digital_music/"
              "rating.zip")
EPINIONS_URL = "http://www.trustlet.org/downloaded_epinions.html"
EPINIONS_MIRROR = ("github.com/sajmon170/trust-based-recommendation-systems (commit 62681f0), "
                   "datasets/epinions.zip")

ML100K_SHA256 = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
}
ACCENT_SHA256 = {
    "movielens_train.tsv": "d8b9766bd7bca94aaeb6c9e114b260c8dffb917063d5bdfc8c3cb4a505c9e396",
}
ML1M_SHA256 = {
    "ratings_uir.csv": "856e44e0b1f5091ac912c7f38cba7e497c5fdb6ea05587142a85ff9a62849b63",
}
# Optional ml-1m files: titles are attached only when both exist.
ML1M_TITLE_FILES = ("item_idx_to_movie_id.csv", "movies.dat")
AMAZON_SHA256 = {
    "rating.txt": "11a2b696972fd54e49604a3484d02557a983488edc78122de99fb3b671aa39de",
}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """How to find and read one named dataset.

  Attributes:
    name: canonical name, e.g. "movielens-100k".
    folder: sub-folder of the data directory, e.g. "ml-100k".
    files: required file name -> expected SHA-256 (checked after a download), or None where
      no checksum is known.
    read: function(folder, root) -> Interactions, called once all files are present.
    aliases: other accepted names.
    url: where the files come from (None: no automatic download exists).
    zip_members: file name -> member inside the zip at `url` (None: `url` is the single file).
    how_to_get: instructions for the missing-files error; may use {root} and {folder}.
  """

  name: str
  folder: str
  files: dict[str, str | None]
  read: Callable[[pathlib.Path, pathlib.Path], Interactions]
  aliases: tuple[str, ...] = ()
  url: str | None = None
  zip_members: dict[str, str] | None = None
  how_to_get: str = ""


RATING_SCALE = (1.0, 5.0)  # every registered dataset rates 1..5 stars


def _dense(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(sorted unique raw ids, int32 dense index of each row)."""
  ids, index = np.unique(raw, return_inverse=True)
  return ids, index.astype(np.int32).reshape(-1)


def check_rows(path: pathlib.Path, user_raw: np.ndarray, item_raw: np.ndarray,
               rating: np.ndarray, *, first_line: int = 1,
               rating_scale: tuple[float, float] | None = RATING_SCALE) -> None:
  """One-line `DatasetError`s, naming the file and line, for rows that would load wrong.

  Checks: integer ids are not negative; ratings lie in `rating_scale`. (Duplicate (user,
  item) pairs are refused by `Interactions` itself; `_interactions` names their lines.)
  """
  line = lambda row: int(row) + first_line
  for name, raw in (("user", user_raw), ("item", item_raw)):
    if np.issubdtype(raw.dtype, np.integer) and raw.size and raw.min() < 0:
      row = int(np.argmax(raw < 0))
      raise DatasetError(f"{path}: line {line(row)}: {name} id {raw[row]} is negative; ids "
                         "are positive in this dataset: fix or delete that line")
  if rating_scale is not None:
    low, high = rating_scale
    outside = (rating < low) | (rating > high)
    if outside.any():
      row = int(np.argmax(outside))
      raise DatasetError(f"{path}: line {line(row)}: rating {rating[row]:g} lies outside "
                         f"[{low:g}, {high:g}], this dataset's scale: fix or delete that line")


def _interactions(name: str, path: pathlib.Path, user_raw: np.ndarray, item_raw: np.ndarray,
                  rating: np.ndarray, timestamp: np.ndarray | None = None,
                  titles: Callable[[np.ndarray], tuple[str, ...] | None] | None = None, *,
                  first_line: int = 1, record: type = Interactions,
                  **fields) -> Interactions:
  """Builds an `Interactions` (or the subclass `record`, given its extra `fields`) with
  users/items re-indexed densely by sorted raw id, rows kept, after `check_rows`."""
  check_rows(path, user_raw, item_raw, rating, first_line=first_line)
  user_ids, user = _dense(user_raw)
  item_ids, item = _dense(item_raw)
  try:
    return record(
        user=user, item=item, rating=np.asarray(rating, dtype=np.float32),
        num_users=len(user_ids), num_items=len(item_ids),
        timestamp=None if timestamp is None else np.asarray(timestamp, dtype=np.int64),
        user_ids=user_ids, item_ids=item_ids,
        item_titles=None if titles is None else titles(item_ids), name=name, **fields)
  except DuplicateRowsError as error:
    first, second = error.rows
    raise DatasetError(f"{path}: lines {first + first_line} and {second + first_line} both "
                       f"hold user {user_raw[first]} and item {item_raw[first]}; each pair may "
                       "appear once: delete or aggregate the duplicates") from None


_UIRT = (("user", INT), ("item", INT), ("rating", FLOAT), ("timestamp", INT))


def _read_ml100k(folder: pathlib.Path, root: pathlib.Path) -> Interactions:
  del root
  cols = read_delimited(folder / "u.data", sep="\t", columns=_UIRT)
  titles = read_id_title(folder / "u.item", sep="|", encoding="latin-1", min_fields=2)
  return _interactions("movielens-100k", folder / "u.data", cols["user"], cols["item"],
                       cols["rating"], cols["timestamp"],
                       lambda ids: tuple(titles.get(int(i), "") for i in ids))


def _accent_titles(root: pathlib.Path, cols: dict[str, np.ndarray]):
  """Titles for ACCENT's item ids via the recovered ML-100K item map, or None if unavailable."""
  ml_folder = root / "ml-100k"
  if not all((ml_folder / f).is_file() for f in ("u.data", "u.item")):
    return None
  ml = read_delimited(ml_folder / "u.data", sep="\t", columns=_UIRT)
  maps = match_accent_to_ml100k(cols, ml)
  if maps is None:
    return None
  _, item_map = maps
  titles = read_id_title(ml_folder / "u.item", sep="|", encoding="latin-1", min_fields=2)
  return lambda ids: tuple(titles.get(int(item_map[int(i)]), "") for i in ids)


def _read_accent(folder: pathlib.Path, root: pathlib.Path) -> Interactions:
  cols = read_delimited(folder / "movielens_train.tsv", sep="\t", columns=_UIRT)
  return _interactions("accent-ml100k", folder / "movielens_train.tsv", cols["user"],
                       cols["item"], cols["rating"], cols["timestamp"], _accent_titles(root, cols))


def _ml1m_titles(folder: pathlib.Path) -> dict[int, str] | None:
  """{item_idx: title} for the items whose GroupLens MovieID is resolved (None: no files)."""
  if not all((folder / f).is_file() for f in ML1M_TITLE_FILES):
    return None
  path = folder / "item_idx_to_movie_id.csv"
  lines = read_lines(path, encoding="utf-8")
  if not lines or lines[0].split(",")[:2] != ["item_idx", "movie_id"]:
    raise DatasetError(f"{path}: line 1: expected a header starting 'item_idx,movie_id'")
  movies = read_id_title(folder / "movies.dat", sep="::", encoding="latin-1", min_fields=2)
  titles = {}
  for lineno, line in enumerate(lines[1:], start=2):
    fields = line.split(",")
    if len(fields) < 2:
      raise DatasetError(f"{path}: line {lineno}: expected at least 2 ','-separated fields, "
                         f"found {len(fields)}")
    if fields[1].strip() == "":
      continue  # ambiguous item: no single MovieID
    try:
      titles[int(fields[0])] = movies.get(int(fields[1]), "")
    except ValueError:
      raise DatasetError(f"{path}: line {lineno}: ids {fields[0]!r}, {fields[1]!r} "
                         "are not integers") from None
  return titles


def _read_ml1m(folder: pathlib.Path, root: pathlib.Path) -> Interactions:
  del root
  cols = read_delimited(folder / "ratings_uir.csv", sep=",",
                        header=("user_id", "item_idx", "rating"),
                        columns=(("user", INT), ("item", INT), ("rating", FLOAT)))
  titles = _ml1m_titles(folder)
  return _interactions("ml-1m", folder / "ratings_uir.csv", cols["user"], cols["item"],
                       cols["rating"], None, None if titles is None else
                       lambda ids: tuple(titles.get(int(i), "") for i in ids), first_line=2)


def _read_amazon(folder: pathlib.Path, root: pathlib.Path) -> Interactions:
  del root
  cols = read_delimited(folder / "rating.txt", sep=",",
                        columns=(("user", STR), ("item", STR), ("rating", FLOAT),
                                 ("timestamp", INT)))
  return _interactions("amazon-digital-music", folder / "rating.txt", cols["user"],
                       cols["item"], cols["rating"], cols["timestamp"])


def _read_epinions(folder: pathlib.Path, root: pathlib.Path) -> SocialInteractions:
  """Epinions ratings with their trust network (`cfjax.data.social`)."""
  del root
  cols = read_delimited(folder / "ratings_data.txt", sep=" ",
                        columns=(("user", INT), ("item", INT), ("rating", FLOAT)))
  return _interactions("epinions", folder / "ratings_data.txt", cols["user"], cols["item"],
                       cols["rating"], record=SocialInteractions,
                       trust_raw=read_trust(folder / TRUST_FILE))


def _read_netflix(folder: pathlib.Path, root: pathlib.Path) -> Interactions:
  del root
  cols = read_delimited(folder / "data_small.csv", sep=",",
                        columns=(("user", STR), ("item", STR), ("rating", FLOAT)))
  return _interactions("netflix-small", folder / "data_small.csv", cols["user"], cols["item"],
                       cols["rating"])


DATASETS: Registry[DatasetSpec] = Registry("dataset", error=DatasetError)
for _spec in (
    DatasetSpec(
        name="movielens-100k", folder="ml-100k", files=ML100K_SHA256, read=_read_ml100k,
        aliases=("movielens", "ml-100k", "ml100k"), url=ML100K_URL,
        zip_members={f: f"ml-100k/{f}" for f in ML100K_SHA256},
        how_to_get=f"download {ML100K_URL} and unzip it in {{root}} (it holds ml-100k/)"),
    DatasetSpec(
        name="accent-ml100k", folder="accent-ml100k", files=ACCENT_SHA256, read=_read_accent,
        aliases=("accent",), url=ACCENT_URL,
        how_to_get=f"download {ACCENT_URL} into {{folder}}"),
    DatasetSpec(
        name="accent-rcf", folder="accent-ml100k", files=RCF_SHA256, read=read_accent_rcf,
        aliases=("rcf",), how_to_get=(
            "copy RCF/data/train.csv, test.csv, relational_data.csv and "
            "auxiliary-mapping.txt of github.com/hieptk/accent (commit 8c6652e) into "
            "{folder}")),
    DatasetSpec(
        name="ml-1m", folder="ml-1m", files=ML1M_SHA256, read=_read_ml1m,
        aliases=("movielens-1m", "ml1m"), url=None,
        how_to_get=("copy ratings_uir.csv (a conversion with no official download) and, for "
                    "titles, item_idx_to_movie_id.csv and movies.dat (movies.dat is in "
                    f"{ML1M_URL}) into {{folder}}")),
    DatasetSpec(
        name="amazon-digital-music", folder="amazon-digital-music", files=AMAZON_SHA256,
        read=_read_amazon, aliases=("amazon",), url=AMAZON_URL,
        zip_members={"rating.txt": "amazon_digital_music/rating.txt"},
        how_to_get=f"download {AMAZON_URL} and unzip its rating.txt into {{folder}}"),
    DatasetSpec(
        name="epinions", folder="epinions", files=EPINIONS_SHA256, read=_read_epinions,
        aliases=("trustlet-epinions",), url=None,
        how_to_get=("download ratings_data.txt.bz2 and trust_data.txt.bz2 from "
                    f"{EPINIONS_URL} (or take epinions/ratings_data.txt and trust_data.txt "
                    f"out of {EPINIONS_MIRROR}), unpack them into {{folder}}")),
    DatasetSpec(
        name="netflix-small", folder="netflix", files={"data_small.csv": None},
        read=_read_netflix, aliases=("netflix",), url=None,
        how_to_get=("put Cornac's Netflix small file (cornac.datasets.netflix."
                    "load_feedback(variant='small'): user,item,rating rows) into {folder} "
                    "as data_small.csv")),
):
  DATASETS.register(_spec.name, _spec)
SYNTHETIC = "synthetic"


def available_datasets() -> tuple[str, ...]:
  """Canonical names accepted by `load` (aliases are accepted too)."""
  return DATASETS.names() + (SYNTHETIC,)


def canonical_name(name: str) -> str:
  """The canonical name of a dataset given by name or alias ("movielens" -> "movielens-100k").

  Raises:
    DatasetError: for an unknown name, listing the known ones.
  """
  key = str(name).strip().lower()
  if key == SYNTHETIC:
    return SYNTHETIC
  for _, spec in DATASETS.items():
    if key == spec.name or key in spec.aliases:
      return spec.name
  raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(available_datasets())} "
                     f"(aliases: {', '.join(a for _, s in DATASETS.items() for a in s.aliases)})")


def _ensure_files(spec: DatasetSpec, folder: pathlib.Path, download: bool | None) -> None:
  """Makes sure every required file exists, downloading it when allowed and possible."""
  missing = [f for f in spec.files if not (folder / f).is_file()]
  if not missing:
    return
  if spec.url is None:
    reason = "no automatic download exists"
  elif not paths.download_enabled(download):
    reason = f"automatic download disabled by download=False or {paths.NO_DOWNLOAD_ENV}=1"
  else:
    try:
      wanted = spec.files if spec.zip_members else {f: spec.files[f] for f in missing}
      paths.download_files(spec.url, folder, wanted, spec.zip_members)
      return
    except (OSError, ValueError) as e:  # URLError, timeouts and checksum mismatches are OSErrors
      reason = f"download failed: {e}"
  raise DatasetError(
      f"{spec.name}: missing {', '.join(missing)} in {folder}; "
      f"{spec.how_to_get.format(root=folder.parent, folder=folder)}, or set "
      f"{paths.DATA_DIR_ENV} (or --data_dir) to a folder that has {spec.folder}/ ({reason})")


def check_checksums(spec: DatasetSpec, folder: pathlib.Path,
                    allow_modified: bool | None = None) -> None:
  """Compares every file of known SHA-256 with it: a mismatch (a modified or truncated file)
  is a one-line `DatasetError` naming the file, or a warning when modified data are allowed
  (`allow_modified`, or CFJAX_ALLOW_MODIFIED_DATA=1)."""
  for file, expected in spec.files.items():
    if expected is None:
      continue
    got = paths.file_sha256(folder / file)
    if got == expected:
      continue
    message = (f"{folder / file} has sha256 {got[:12]}..., not the known {expected[:12]}... of "
               f"{spec.name} (modified or truncated)")
    if not paths.modified_data_allowed(allow_modified):
      raise DatasetError(f"{message}; restore the original file, or allow edited data with "
                         f"allow_modified_data=True (--allow_modified_data, "
                         f"{paths.ALLOW_MODIFIED_ENV}=1)")
    warnings.warn(f"{message}; loading it anyway because modified data are allowed",
                  ModifiedDataWarning, stacklevel=3)


class ModifiedDataWarning(UserWarning):
  """A dataset file differs from the published one and was loaded on purpose."""


def load(name: str, *, data_dir: str | os.PathLike | None = None, download: bool | None = None,
         allow_modified_data: bool | None = None, **kwargs) -> Interactions:
  """Loads a dataset by name.

  Args:
    name: one of `available_datasets()` or an alias ("movielens", "ml-100k", "amazon", ...),
      or the path of your own .csv / .tsv / .parquet file (then pass its columns: user=,
      item=, and optionally rating= (none: implicit feedback), timestamp=, title=, sep=;
      `cfjax.data.frames.read_table`).
    data_dir: root folder holding one sub-folder per dataset; see `data_dir()` for the default.
    download: allow fetching missing files (SHA-256 checked). None: allowed unless the
      environment variable CFJAX_NO_DOWNLOAD=1.
    allow_modified_data: load files whose SHA-256 differs from the published one (with a
      warning) instead of refusing them. None: the CFJAX_ALLOW_MODIFIED_DATA variable.
    **kwargs: for "synthetic": forwarded to `make_synthetic`; for a file: its columns.

  Returns:
    Interactions with int32 dense user/item ids (sorted raw ids -> 0..), float32 ratings, raw ids
    in `user_ids`/`item_ids`, rows in file order and `name` set to the canonical name.

  Raises:
    DatasetError: unknown name, missing files that could not be fetched, a file that is not
      the published one (checksum), or a malformed file (naming the line).
  """
  if is_table_path(name):
    return read_table(name, **kwargs)
  canonical = canonical_name(name)
  if canonical == SYNTHETIC:
    return make_synthetic(**kwargs)
  if kwargs:
    raise DatasetError(f"load({canonical!r}) got unexpected arguments {sorted(kwargs)}; only "
                       "data_dir and download are accepted for file datasets")
  spec = DATASETS.get(canonical)
  root = paths.data_dir(data_dir)
  folder = root / spec.folder
  _ensure_files(spec, folder, download)
  check_checksums(spec, folder, allow_modified_data)
  return spec.read(folder, root)
