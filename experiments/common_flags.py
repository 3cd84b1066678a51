"""Flags every runner shares, defined once so several runners can be imported together.

Each runner reads them through `absl.flags.FLAGS` and defines only its own extra flags.
"""

from absl import flags

flags.DEFINE_string("dataset", "movielens-100k", "Dataset name for cfjax.data.load.")
flags.DEFINE_string("data_dir", None, "Data root (default: $CFJAX_DATA_DIR or ~/.cache/cfjax).")
flags.DEFINE_enum("model", "mf", ["mf", "ncf", "rcf", "all"], "Recommender; `all` runs every "
                  "model a runner supports; `rcf` is accepted and reported as not implemented "
                  "yet.")
flags.DEFINE_integer("seed", 0, "Seed of the split, the original model and the sampled users.")
flags.DEFINE_string("output_dir", None, "Results directory (default: results/<runner>).")
flags.DEFINE_integer("chunk_size", None, "Models per compiled engine call (default: 1 on CPU, "
                     "else 64).")
flags.DEFINE_string("preset", "default", "Named settings: smoke (a minute) or default; a "
                    "runner may add paper.")
