"""Training: `fit` trains one model; `retrain` batches counterfactual retrains (over several
processes too); a `RetrainProtocol` says how, for both.

  protocol.py        `RetrainProtocol` (kind, steps, batch, seeds, stopping rule, chunking)
                     and `models_per_call`, the one chunk-size rule
  fit.py             `fit`: ONE model, scratch or warm, steps or to convergence; `TrainState`
  batched.py         `retrain` (the only vmap site), readouts, `train_original(_exact)`
  counterfactual.py  `retrain_user_scores`: the retraining core of verification
  distributed.py     many processes retraining one plan with `jax.distributed`
  health.py          a diverged original stops a run instead of becoming a table
"""

from cfjax.train import distributed
from cfjax.train.batched import (RetrainResult, default_vector_width, params_readout, retrain,
                                 state_readout, trace_count, train_original,
                                 train_original_exact, user_scores_readout)
from cfjax.train.fit import (Converged, Convergence, TrainData, TrainState, deleted_weights,
                             epoch_batches, fit, fit_to_convergence, init_state, pad_deletions,
                             seed_keys, steps_per_epoch, to_train_data)
from cfjax.train.protocol import RetrainProtocol, models_per_call

__all__ = ["Converged", "Convergence", "RetrainProtocol", "RetrainResult", "TrainData",
           "TrainState", "default_vector_width", "deleted_weights", "distributed",
           "epoch_batches", "fit", "fit_to_convergence", "init_state", "models_per_call",
           "pad_deletions", "params_readout", "retrain", "seed_keys", "state_readout",
           "steps_per_epoch", "to_train_data", "trace_count", "train_original",
           "train_original_exact", "user_scores_readout"]
