"""cfjax: counterfactual explanations for recommenders, with batched retraining in JAX."""

from cfjax import data, evaluate, explain, influence, models, rank, simulate, train
from cfjax.data import Interactions, load
from cfjax.models import Recommender, make_model
from cfjax.train import retrain, to_train_data, train_original

__version__ = "0.1.0"

__all__ = ["Interactions", "Recommender", "data", "evaluate", "explain", "influence", "load",
           "make_model", "models", "rank", "retrain", "simulate", "to_train_data", "train",
           "train_original", "__version__"]
