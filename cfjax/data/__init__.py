"""Datasets for cfjax: loaders by name, your own tables, synthetic data and pure transforms.

  interactions.py  `Interactions`: (user, item, rating[, timestamp]) rows on the host
  loaders.py       `load(name)`, the dataset registry `DATASETS`, checksummed files
  frames.py        your own data: a pandas frame or a CSV / TSV / Parquet file, raw ids kept
  raw_ids.py       records in the data's own ids: raw user / item ids and titles
  parsing.py       fast, validating readers for delimited text files
  paths.py         where datasets (CFJAX_DATA_DIR) and caches (CFJAX_CACHE_DIR) live, fetching
                   with a SHA-256 check
  errors.py        `DatasetError`, the loaders' one-line error
  transforms.py    splits, filters, binarisation, user sampling and a content checksum
  synthetic.py     seeded synthetic ratings with a planted low-rank structure
  rcf.py           ACCENT's RCF triples and item side data
  social.py        Epinions' trust network beside its ratings (`SocialInteractions`)
  accent_ids.py    the MovieLens ids behind ACCENT's re-indexed file
  vae_split.py     the Mult-VAE split (Liang et al. 2018; LCER section 4.1)
"""

from cfjax.data.errors import DatasetError
from cfjax.data.interactions import Interactions, padded_histories
from cfjax.data.loaders import available_datasets, canonical_name, load
from cfjax.data.paths import data_dir, default_cache_dir
from cfjax.data.social import SocialInteractions
from cfjax.data.synthetic import make_synthetic
from cfjax.data.transforms import (binarize, data_checksum, filter_min_interactions,
                                   per_user_holdout, random_split, sample_users)
from cfjax.data.vae_split import VaeSplit, lcer_positives, make_vae_split

__all__ = [
    "DatasetError",
    "VaeSplit",
    "Interactions",
    "SocialInteractions",
    "available_datasets",
    "binarize",
    "canonical_name",
    "data_checksum",
    "data_dir",
    "default_cache_dir",
    "filter_min_interactions",
    "lcer_positives",
    "load",
    "make_synthetic",
    "make_vae_split",
    "padded_histories",
    "per_user_holdout",
    "random_split",
    "sample_users",
]
