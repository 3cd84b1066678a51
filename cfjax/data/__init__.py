"""Datasets for cfjax: loaders by name, synthetic data and pure transforms."""

from cfjax.data.errors import DatasetError
from cfjax.data.interactions import Interactions
from cfjax.data.loaders import available_datasets, load
from cfjax.data.paths import data_dir
from cfjax.data.synthetic import make_synthetic
from cfjax.data.transforms import (binarize, data_checksum, filter_min_interactions,
                                   per_user_holdout, random_split)
from cfjax.data.vae_split import VaeSplit, make_vae_split

__all__ = [
    "DatasetError",
    "VaeSplit",
    "Interactions",
    "available_datasets",
    "binarize",
    "data_checksum",
    "data_dir",
    "filter_min_interactions",
    "load",
    "make_synthetic",
    "make_vae_split",
    "per_user_holdout",
    "random_split",
]
