"""Recall@K and NDCG@K by hand, and the top-N runner end to end on synthetic data."""

import numpy as np
import pytest

from cfjax.data import Interactions
from cfjax.evaluate.topn import metrics_from_scores, topn_metrics


def test_recall_and_ndcg_by_hand():
  scores = np.asarray([[0.9, 0.8, 0.7, 0.6, 0.5]])
  seen = np.asarray([[True, False, False, False, False]])  # item 0 is excluded
  heldout = np.asarray([[False, False, True, False, True]])  # ranks: 1->1, 2->2, 3->3, 4->4
  out = metrics_from_scores(scores, seen, heldout, [2, 4])
  assert out["top1"].tolist() == [1]
  # top-2 = items 1, 2: one hit of 2 held out
  np.testing.assert_allclose(out["recall@2"], [0.5])
  np.testing.assert_allclose(out["ndcg@2"], [(1 / np.log2(3)) / (1 + 1 / np.log2(3))])
  # top-4 = items 1..4: hits at ranks 2 and 4
  np.testing.assert_allclose(out["recall@4"], [1.0])
  np.testing.assert_allclose(out["ndcg@4"], [(1 / np.log2(3) + 1 / np.log2(5))
                                             / (1 + 1 / np.log2(3))])


def test_topn_metrics_counts_users_and_distinct_top1():
  train = Interactions(user=np.asarray([0, 1, 2], np.int32), item=np.asarray([0, 0, 1], np.int32),
                       rating=np.ones(3, np.float32), num_users=3, num_items=4)
  test = Interactions(user=np.asarray([0, 1], np.int32), item=np.asarray([3, 2], np.int32),
                      rating=np.ones(2, np.float32), num_users=3, num_items=4)
  scores = np.asarray([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]], np.float32)
  result = topn_metrics(lambda users: scores[users], train, test, [1])
  assert result["users"] == 2 and result["distinct_top1"] == 1  # both users' top-1 is item 3
  assert result["recall@1"] == pytest.approx(0.5) and result["top1_share"] == 1.0
  with pytest.raises(ValueError, match="K=5 must lie in"):
    topn_metrics(lambda users: scores[users], train, test, [5])


def test_the_runner_pipeline_on_synthetic_data(tmp_path):
  from cfjax.experiments.configs.topn import get_config
  from cfjax.workflows import topn
  config = get_config("smoke")
  config.dataset = "synthetic"
  for model in ("ease", "bpr"):
    config.model = model
    table = topn.run(config, tmp_path / model)
    assert 0.0 <= table["recall@20"] <= 1.0 and table["distinct_top1"] >= 1
    assert (tmp_path / model / "table.md").read_text().count("|") > 10
