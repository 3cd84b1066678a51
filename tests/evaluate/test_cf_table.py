"""The ACCENT-style table: placebos, counting over all users, noise floors, tests, markdown."""

import numpy as np
import pytest

from cfjax.data import Interactions
from cfjax.evaluate import cf_table
from cfjax.records import Explanation, VerifiedRecord

# 4 users x 8 items; user u rated items u..u+4 (5 rows each).
USERS, ITEMS = 4, 8
TRAIN = Interactions(user=np.repeat(np.arange(USERS), 5).astype(np.int32),
                     item=np.concatenate([np.arange(u, u + 5) for u in range(USERS)]).astype(
                         np.int32),
                     rating=np.ones(20, np.float32), num_users=USERS, num_items=ITEMS)


def record(user, deleted, replacement, method):
  return Explanation(user=user, item=7 if user < 3 else 0, deleted_items=deleted,
                     replacement=replacement, method=method, extra={})


def explanations():
  """accent: users 0, 1, 2 (sizes 1, 2, 1); fia: users 0, 1 (sizes 3, 2); pure_fia: user 3
  found nothing (replacement None), user 0 size 4."""
  return {"pure_fia": [record(0, (0, 1, 2, 3), 6, "pure_fia"), record(3, (), None, "pure_fia")],
          "fia": [record(0, (0, 1, 2), 6, "fia"), record(1, (1, 2), 6, "fia")],
          "accent": [record(0, (0,), 6, "accent"), record(1, (1, 2), 6, "accent"),
                     record(2, (3,), 6, "accent")]}


def verified(record_):
  """Real methods' records of users 0 and 1 succeed, placebos fail; in the control retrain
  (nothing deleted) only user 1's replacement already overtakes."""
  return VerifiedRecord(explanation=record_, original_rank=1, new_rank=2, left_top_k={1: True},
                        item_score_original=1.0, item_score_new=0.5, replacement_score_new=0.6,
                        protocol="warm", seeds=(0,),
                        replacement_overtook=(record_.user in (0, 1)
                                              and "placebo" not in record_.method),
                        replacement_score_original=1.5 if record_.user == 1 else 0.5)


def verified_k(seed=0):
  return [verified(r) for r in cf_table.records_to_verify(explanations(), TRAIN, seed=seed)]


def test_placebos_match_sizes_and_replacements():
  records = cf_table.records_to_verify(explanations(), TRAIN, seed=3)
  real = [r for r in records if not r.method.startswith("placebo_")]
  placebos = [r for r in records if r.method.startswith("placebo_")]
  assert len(real) == len(placebos) == 6  # pure_fia's user 3 found nothing: no record
  for r, p in zip(real, placebos):
    assert p.method == "placebo_" + r.method and (p.user, p.item) == (r.user, r.item)
    assert p.replacement == r.replacement and len(p.deleted_items) == len(r.deleted_items)
    assert set(p.deleted_items) <= set(TRAIN.history_items(r.user).tolist())
    assert p.extra["placebo_of"] == r.method
  assert cf_table.records_to_verify(explanations(), TRAIN, seed=3) == records  # seeded


def test_placebo_draw_depends_on_user_and_size_only():
  # fia's and accent's user-1 sets both have 2 items: the same placebo set.
  placebos = {(p.method, p.user): p for p in cf_table.records_to_verify(explanations(), TRAIN,
                                                                         seed=0)
              if p.method.startswith("placebo_")}
  assert (placebos[("placebo_fia", 1)].deleted_items
          == placebos[("placebo_accent", 1)].deleted_items)


def test_placebo_larger_than_the_history_is_a_one_line_error():
  with pytest.raises(ValueError, match=r"^user 0's CF set has 6 items but the history only 5;"
                     r"[^\n]*$"):
    cf_table.placebo_record(record(0, (0, 1, 2, 3, 4, 5), 6, "accent"), TRAIN, seed=0)


def test_is_found():
  assert cf_table.is_found(record(0, (1,), 6, "accent"))
  assert not cf_table.is_found(None)
  assert not cf_table.is_found(record(0, (), 6, "accent"))
  assert not cf_table.is_found(record(0, (1,), None, "accent"))
  failed = Explanation(0, 7, (1,), 6, "accent", {"failed": True})
  assert not cf_table.is_found(failed)


def test_with_k_marks_the_record():
  marked = cf_table.with_k(record(0, (1,), 6, "accent"), 10)
  assert marked.extra == {"k": 10} and marked.deleted_items == (1,)


def test_counting_over_all_users():
  result = cf_table.evaluate_k(verified_k(), users=range(USERS))
  accent, fia, pure = (result["methods"][m] for m in ("accent", "fia", "pure_fia"))
  assert (accent["found"], accent["successes"]) == (3, 2)
  assert accent["cf_percentage"] == 50.0 and accent["cf_size"] == 1.5  # sizes 1, 2
  assert fia["cf_percentage"] == 50.0 and fia["cf_size"] == 2.5
  assert pure["found"] == 1 and pure["cf_percentage"] == 25.0 and pure["cf_size"] == 4.0
  assert result["methods"]["placebo_accent"]["cf_percentage"] == 0.0
  assert result["methods"]["placebo_accent"]["cf_size"] is None
  noise = result["methods"]["noise_accent"]  # user 1 of the 3 found; 1 of 4 users
  assert (noise["found"], noise["successes"], noise["cf_percentage"]) == (3, 1, 25.0)
  assert noise["cf_size"] is None and result["methods"]["noise_pure_fia"]["successes"] == 0
  low, high = accent["cf_percentage_ci"]  # Wilson 95% for 2 of 4
  assert low == pytest.approx(15.0, abs=0.1) and high == pytest.approx(85.0, abs=0.1)


def test_comparisons():
  result = cf_table.evaluate_k(verified_k(), users=range(USERS))
  tests = {(t["a"], t["b"]): t for t in result["comparisons"]}
  assert set(tests) >= {("accent", "fia"), ("accent", "pure_fia"), ("accent", "placebo_accent"),
                        ("fia", "placebo_fia"), ("pure_fia", "placebo_pure_fia"),
                        ("accent", "noise_accent"), ("fia", "noise_fia")}
  assert ("accent", "noise_fia") not in tests
  vs_noise = tests[("accent", "noise_accent")]  # accent wins for user 0, the control for none
  assert (vs_noise["only_a"], vs_noise["only_b"], vs_noise["size_p"]) == (1, 0, None)
  vs_fia = tests[("accent", "fia")]
  assert (vs_fia["only_a"], vs_fia["only_b"], vs_fia["size_pairs"]) == (0, 0, 2)
  # sizes (1, 2) vs (3, 2): d = (-2, 0), t = -1 on 1 df (Cauchy): p = 1/2 + atan(-1) / pi.
  assert vs_fia["size_t"] == pytest.approx(-1.0) and vs_fia["size_p"] == pytest.approx(0.25)
  assert tests[("accent", "placebo_accent")]["only_a"] == 2


def test_two_records_of_one_method_and_user_are_refused():
  twice = [verified(record(0, (0,), 6, "accent"))] * 2
  with pytest.raises(ValueError, match=r"^method accent has two records for user 0;[^\n]*$"):
    cf_table.outcomes(twice, range(USERS), ["accent"])


def test_records_without_the_control_score_have_no_noise_row():
  old = [VerifiedRecord(explanation=record(0, (0,), 6, "accent"), original_rank=1, new_rank=2,
                        left_top_k={1: True}, item_score_original=1.0, item_score_new=0.5,
                        replacement_score_new=0.6, replacement_overtook=True,
                        protocol="warm", seeds=(0,))]
  assert cf_table.noise_outcome(old, range(USERS), "accent") is None
  assert "noise_accent" not in cf_table.evaluate_k(old, range(USERS))["methods"]


def test_table_beside_the_paper_and_markdown():
  table = cf_table.table({5: verified_k(), 10: verified_k()}, range(USERS),
                         {("accent", 5): (57.3, 4.73)})
  assert table["users"] == USERS and set(table["comparisons"]) == {5, 10}
  assert len(table["rows"]) == 2 * 9 * 2  # k x (3 methods, 3 placebos, 3 noise) x 2 metrics
  cell = {(r["method"], r["k"], r["metric"]): r for r in table["rows"]}
  row = cell[("accent", 5, "cf_percentage")]
  assert (row["ours"], row["paper"], row["successes"]) == (50.0, 57.3, 2)
  assert len(row["ci95"]) == 2 and "ci95" not in cell[("accent", 5, "cf_size")]
  assert cell[("accent", 5, "cf_size")]["paper"] == 4.73
  assert cell[("accent", 10, "cf_percentage")]["paper"] is None
  markdown = cf_table.markdown(table)  # 4 users: no interval, test or paper comparison
  assert ("| accent | 5 | 50.000 | n = 4: too small for an interval | n = 4: no paper "
          "comparison | 1.500 | n = 4: no paper comparison | 3 | 2 | 4 |") in markdown
  assert "placebo_accent" in markdown and "McNemar" in markdown
  assert "57.3" not in markdown and "n = 4: too small for a test" in markdown
  wide = cf_table.markdown(cf_table.table({5: verified_k()}, range(12),
                                          {("accent", 5): (57.3, 4.73)}))
  assert "| accent | 5 | 16.667 | 4.7-44.8 | 57.300 | 1.500 | 4.730 | 3 | 2 | 12 |" in wide
  assert "too small" not in wide and "no paper comparison" not in wide


def test_a_noise_floor_inside_a_methods_interval_is_a_warning_line():
  rows = [{"method": "accent", "k": 5, "metric": "cf_percentage", "ours": 30.0,
           "ci95": [20.0, 42.0]},
          {"method": "noise_accent", "k": 5, "metric": "cf_percentage", "ours": 25.0},
          {"method": "fia", "k": 5, "metric": "cf_percentage", "ours": 60.0,
           "ci95": [50.0, 70.0]},
          {"method": "noise_fia", "k": 5, "metric": "cf_percentage", "ours": 25.0}]
  (line,) = cf_table.noise_warnings(rows)
  assert line.startswith("warning: at k=5 the noise floor of accent (25.0%, nothing deleted) "
                         "lies within its 95% interval (20.0-42.0%)")


def test_dropped_records_are_counted_in_a_warning(caplog):
  with caplog.at_level("WARNING", logger="cfjax.evaluate.cf_table"):
    records = cf_table.records_to_verify(explanations(), TRAIN, seed=0)
  assert len(records) == 12
  assert caplog.messages == ["pure_fia: kept 1 of 2 records: 1 have no replacement item "
                             "(ACCENT-style tables need one; use cfjax.compare for methods "
                             "without)"]


def test_keeping_no_record_is_an_error_naming_the_count_and_the_fix():
  knn = {"knn": [record(u, (u,), None, "knn") for u in range(USERS)]}  # no replacement
  with pytest.raises(ValueError, match=r"^no explanation to verify: knn: kept 0 of 4 records: "
                     r"4 have no replacement item \(.*use cfjax.compare"):
    cf_table.records_to_verify(knn, TRAIN, seed=0)
