"""Batched verification of explanations by retraining, and the JSONL records."""

import numpy as np
import pytest

from cfjax.data import make_synthetic
from cfjax.evaluate import summarize, verify
from cfjax.models import make_model
from cfjax.rank import top1_targets
from cfjax.records import ExplanationRecord
from cfjax.train import RetrainProtocol, to_train_data, train_original_exact, user_scores_readout
from tests.test_records import verified_record

STEPS, CHUNK, SEED = 20, 1, 0


@pytest.fixture(scope="module")
def setup():
  train = make_synthetic(num_users=12, num_items=20, dim=2, density=0.3, seed=0)
  model = make_model("mf", train, dim=4, learning_rate=0.05)
  original = train_original_exact(model, to_train_data(train),
                                  RetrainProtocol(steps=STEPS, seeds=(SEED,), chunk_size=CHUNK))
  targets = top1_targets(model, original.params, train, np.arange(train.num_users))
  return train, model, original, targets


def run(setup, records, **kwargs):
  train, model, original, _ = setup
  fields = {"seeds": (SEED,), **kwargs}
  return verify(records, model=model, train=train, original=original,
                protocol=RetrainProtocol(steps=STEPS, chunk_size=CHUNK, **fields), progress=False)


def history_records(setup, users):
  train, _, _, targets = setup
  return [ExplanationRecord(u, targets[u], train.history_items(u)[:3], method="first3")
          for u in users]


def test_deleting_nothing_under_the_original_seed_is_exact(setup):
  train, model, original, targets = setup
  records = [ExplanationRecord(u, targets[u], (), method="none") for u in range(4)]
  for v in run(setup, records):
    assert v.new_rank == v.original_rank == v.unretrained_rank == 1
    assert v.item_score_new == v.item_score_original  # bitwise: the same model
    assert all(not left for left in v.left_top_k.values())
    expected = model.scores(original.params, np.array([v.explanation.user]))[0]
    np.testing.assert_allclose(v.item_score_new, expected[v.explanation.item], rtol=1e-5)


def test_batched_equals_one_by_one(setup):
  records = history_records(setup, range(5))
  records.append(ExplanationRecord(2, records[2].item, (), method="none"))
  batched = run(setup, records)
  for record, together in zip(records, batched):
    (alone,) = run(setup, [record])
    assert alone == together
  changed = [v.item_score_new != v.item_score_original for v in batched[:5]]
  assert all(changed)  # deleting 3 training rows moves the scores


def test_scores_average_over_seeds(setup):
  record = history_records(setup, [1])
  (both,) = run(setup, record, seeds=(0, 1))
  (first,), (second,) = run(setup, record, seeds=(0,)), run(setup, record, seeds=(1,))
  np.testing.assert_allclose(both.item_score_new,
                             (first.item_score_new + second.item_score_new) / 2, rtol=1e-6)
  assert both.seeds == (0, 1)


def test_replacement_criterion(setup):
  train, model, original, _ = setup
  user = 3
  scores = np.array(model.scores(original.params, np.array([user]))[0])
  scores[train.history_items(user)] = -np.inf
  first, second = np.argsort(-scores, kind="stable")[:2]
  records = [ExplanationRecord(user, second, (), replacement=first),  # already ahead
             ExplanationRecord(user, first, (), replacement=second)]  # behind
  overtook, behind = run(setup, records)
  assert overtook.replacement_overtook is True and overtook.original_rank == 2
  assert behind.replacement_overtook is False
  assert overtook.replacement_score_new == behind.item_score_new
  assert summarize([overtook, behind], ks=(1,))["cf_percentage"] == 0.5


def test_warm_protocol_reports_unretrained_rank(setup):
  records = history_records(setup, [0, 1])
  for v in run(setup, records, kind="warm"):
    assert v.protocol == "warm" and v.unretrained_rank == 1


def test_deleted_item_outside_history_raises(setup):
  train, _, _, targets = setup
  outside = int(np.setdiff1d(np.arange(train.num_items), train.history_items(0))[0])
  with pytest.raises(ValueError, match=r"record 1: user 0 has no training interaction"):
    run(setup, [history_records(setup, [0])[0], ExplanationRecord(0, targets[0], (outside,))])
  seen_item = int(train.history_items(0)[0])
  with pytest.raises(ValueError, match="not an unseen item"):
    run(setup, [ExplanationRecord(0, seen_item, ())])


def test_readout_is_cached_per_model(setup):
  _, model, _, _ = setup
  assert user_scores_readout(model) is user_scores_readout(model)


def test_summarize():
  summary = summarize([verified_record("a", 2, True), verified_record("a", 5),
                       verified_record("a", 1, False)], ks=(1, 3))
  assert summary["count"] == 3 and summary["users"] == 1
  assert summary["validity"] == {1: pytest.approx(2 / 3), 3: pytest.approx(1 / 3)}
  # Wilson 95% interval of 2 successes in 3: (0.2077, 0.9385).
  assert summary["validity_ci"][1] == pytest.approx([0.2077, 0.9385], abs=1e-4)
  assert summary["cf_percentage"] == 0.5 and summary["replacement_count"] == 2
  with pytest.raises(ValueError, match="K=5"):
    summarize([verified_record("a", 2)], ks=(5,))


def summary_with(validity, ci):
  return {"validity": {1: validity}, "validity_ci": {1: list(ci)}}


def test_noise_floor_warnings_name_the_methods_it_swamps():
  from cfjax.evaluate import noise_floor_warnings
  summaries = {"knn": summary_with(0.5, (0.3, 0.7)), "ifn": summary_with(0.9, (0.8, 0.97)),
               "random": summary_with(0.4, (0.2, 0.6)), "none": summary_with(0.45, (0.3, 0.6))}
  (line,) = noise_floor_warnings(summaries, [1])
  assert line.startswith("warning: at K=1 the noise floor (45%, nothing deleted) lies within "
                         "the 95% interval of knn:")
  assert "ifn" not in line and "random" not in line
  del summaries["none"]
  assert noise_floor_warnings(summaries, [1]) == []


def test_a_model_worse_than_the_constant_predictor_is_flagged():
  from cfjax.evaluate.metrics import fit_warnings
  assert fit_warnings(0.9, 1.1) == []
  (line,) = fit_warnings(1.3, 1.1)
  assert "test RMSE 1.300 is worse than always predicting the training mean (1.100)" in line
