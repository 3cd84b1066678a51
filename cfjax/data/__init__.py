"""Datasets for cfjax: loaders by name, synthetic data and pure transforms."""

from cfjax.data.errors import DatasetError
from cfjax.data.interactions import Interactions, padded_histories
from cfjax.data.loaders import available_datasets, canonical_name, load
from cfjax.data.paths import data_dir
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
