"""Where datasets and caches live on disk, and fetching missing files (with a SHA-256 check)."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pathlib
import tempfile
import urllib.request
import zipfile


DATA_DIR_ENV = "CFJAX_DATA_DIR"
CACHE_DIR_ENV = "CFJAX_CACHE_DIR"
NO_DOWNLOAD_ENV = "CFJAX_NO_DOWNLOAD"
ALLOW_MODIFIED_ENV = "CFJAX_ALLOW_MODIFIED_DATA"
DEFAULT_DATA_DIR = pathlib.Path("~/.cache/cfjax")
DEFAULT_CACHE_DIR = pathlib.Path("~/.cache/cfjax")
DOWNLOAD_TIMEOUT_S = 5.0


def data_dir(flag_value: str | os.PathLike | None = None) -> pathlib.Path:
  """Resolves the root folder that holds one sub-folder per dataset.

  Args:
    flag_value: an explicit folder (e.g. from a `--data_dir` flag); wins when given and non-empty.

  Returns:
    The first of: `flag_value`, the `CFJAX_DATA_DIR` environment variable, `~/.cache/cfjax`,
    with `~` expanded. The folder is not required to exist.
  """
  for value in (flag_value, os.environ.get(DATA_DIR_ENV)):
    if value is not None and str(value) != "":
      return pathlib.Path(value).expanduser()
  return DEFAULT_DATA_DIR.expanduser()


def default_cache_dir(kind: str = "originals") -> str:
  """The one default folder of a cache of trained models and results (`cfjax explain` and
  every runner's `cache_dir`): `$CFJAX_CACHE_DIR/<kind>`, else `~/.cache/cfjax/<kind>`.

  Args:
    kind: the cache's sub-folder: "originals" (trained original models, keyed by everything
      they depend on) or "lcer" (trained Mult-VAEs and LCER grid points).

  Returns:
    The folder, `~` expanded, as a string (config fields are strings); not required to exist.
  """
  root = os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR
  return str(pathlib.Path(root).expanduser() / kind)


def download_enabled(download: bool | None = None) -> bool:
  """Whether missing files may be fetched: `download` if given, else not `CFJAX_NO_DOWNLOAD`."""
  if download is not None:
    return bool(download)
  return not _truthy(os.environ.get(NO_DOWNLOAD_ENV))


def sha256_of(data: bytes) -> str:
  """Hex SHA-256 of a byte string."""
  return hashlib.sha256(data).hexdigest()


def _truthy(value: str | None) -> bool:
  return (value or "").strip().lower() in ("1", "true", "yes", "on")


def modified_data_allowed(allow: bool | None = None) -> bool:
  """Whether files whose checksum differs from the known one may be loaded (with a warning):
  `allow` if given, else the CFJAX_ALLOW_MODIFIED_DATA environment variable."""
  return bool(allow) if allow is not None else _truthy(os.environ.get(ALLOW_MODIFIED_ENV))


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
  del size, mtime_ns  # part of the cache key: a changed file is hashed again
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def file_sha256(path: pathlib.Path) -> str:
  """Hex SHA-256 of a file's bytes (cached per path, size and modification time)."""
  stat = path.stat()
  return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def fetch(url: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
  """Downloads `url` into memory (raises OSError/URLError on network failure)."""
  with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URLs)
    return response.read()


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, prefix=path.name + ".") as f:
    f.write(data)
    tmp = pathlib.Path(f.name)
  os.replace(tmp, path)


def download_files(url: str, folder: pathlib.Path, files: dict[str, str],
                   zip_members: dict[str, str] | None = None) -> None:
  """Downloads `url` and writes the wanted files into `folder`, checking each SHA-256.

  Args:
    url: a plain file (when `zip_members` is None, `files` must then hold one name) or a zip.
    folder: destination folder (created if needed).
    files: file name -> expected hex SHA-256.
    zip_members: file name -> member path inside the zip, when `url` is a zip archive.

  Raises:
    OSError: on network failure, a missing zip member or a checksum mismatch. Nothing is
      written unless every file checks out.
  """
  payload = fetch(url)
  contents = {}
  if zip_members is None:
    (name,) = files
    contents[name] = payload
  else:
    try:
      with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for name in files:
          contents[name] = archive.read(zip_members[name])
    except (zipfile.BadZipFile, KeyError) as e:
      raise OSError(f"{url} is not the expected zip archive ({e})") from e
  for name, expected in files.items():
    got = sha256_of(contents[name])
    if got != expected:
      raise OSError(f"{name} from {url} has sha256 {got[:12]}..., expected {expected[:12]}...")
  for name, data in contents.items():
    _write_atomic(folder / name, data)
