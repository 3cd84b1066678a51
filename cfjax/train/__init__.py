"""Training: `fit` trains one model; `retrain` batches counterfactual retrains (over several
processes too: `cfjax.train.distributed`)."""

from cfjax.train import distributed
from cfjax.train.batched import (RetrainResult, params_readout, retrain, state_readout,
                                 trace_count, train_original_exact, user_scores_readout)
from cfjax.train.fit import (Converged, Convergence, TrainData, TrainSpec, TrainState,
                             deleted_weights, fit, fit_to_convergence, init_state, pad_deletions,
                             seed_keys, steps_per_epoch, to_train_data, train_original)

__all__ = ["Converged", "Convergence", "RetrainResult", "TrainData", "TrainSpec", "TrainState",
           "deleted_weights", "distributed", "fit", "fit_to_convergence", "init_state",
           "pad_deletions", "params_readout", "retrain", "seed_keys", "state_readout",
           "steps_per_epoch", "to_train_data", "trace_count", "train_original",
           "train_original_exact", "user_scores_readout"]
