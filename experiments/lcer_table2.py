r"""Wen et al. (LCER), Table 2: FIA, KaffesCE, ACCENT and LCER on Mult-VAE, top-5 and top-10.

  python -m experiments.lcer_table2 --dataset=ml-100k --preset=smoke

Writes config.json, explanations.jsonl, rows.csv, table.md and table.json (last) to
--output_dir (default results/lcer_table2/<dataset>-<preset>); a finished run with the same
config is reused. `alishop` and `epinions` are accepted names whose files are not available
offline: the runner says so in one line and exits.
"""

from __future__ import annotations


from absl import app, flags

from experiments import common_flags  # noqa: F401  (defines the shared flags)
from experiments import lcer_common

FLAGS = flags.FLAGS
flags.DEFINE_float("lcer_lambda", None, "LCER lambda of eq. (12) (default: the paper's).")
flags.DEFINE_float("lcer_alpha", None, "LCER alpha of eq. (11) (default: the paper's).")
flags.DEFINE_integer("lcer_steps", None, "LCER Adam steps per pair (default: the preset's).")
flags.DEFINE_integer("lcer_num_users", None, "Test users to explain (default: the preset's).")
flags.DEFINE_list("lcer_methods", list(lcer_common.METHODS), "Methods to run.")
flags.DEFINE_integer("lcer_kaffes_expansions", None, "KaffesCE budget (default: the preset's).")


def main(argv):
  del argv
  dataset = lcer_common.available_dataset(FLAGS.dataset)
  if dataset is None:
    return 1
  s = lcer_common.settings(dataset=dataset, preset=FLAGS.preset, seed=FLAGS.seed,
                           data_dir=FLAGS.data_dir, lam=FLAGS.lcer_lambda, alpha=FLAGS.lcer_alpha,
                           steps=FLAGS.lcer_steps, num_users=FLAGS.lcer_num_users,
                           methods=FLAGS.lcer_methods, chunk_size=FLAGS.chunk_size,
                           kaffes_expansions=FLAGS.lcer_kaffes_expansions)
  output_dir = FLAGS.output_dir or f"results/lcer_table2/{dataset}-{FLAGS.preset}"
  lcer_common.run_table2(s, output_dir)
  print(open(f"{output_dir}/table.md", encoding="utf-8").read())
  return 0


if __name__ == "__main__":
  app.run(main)
