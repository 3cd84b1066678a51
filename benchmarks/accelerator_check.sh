#!/usr/bin/env bash
# The first run on a GPU machine with no network (docs/engine.md, "On a GPU").
#
#   bash benchmarks/accelerator_check.sh --prepare   # here: fill .accel/ (wheels, datasets)
#   bash benchmarks/accelerator_check.sh --dry_run   # the plan, each step's limit, .accel's size
#   bash benchmarks/accelerator_check.sh [--quick]   # there: check the GPU, install, measure
#
# On the GPU machine (the device tool, with carry=[".accel"]) the run uses the interpreter that
# already has a CUDA JAX ($PYTHON, default python3), refuses in one line (exit 2) unless
# jax.default_backend() is "gpu", installs the carried wheels and the project with --no-deps
# (nothing from the network), and runs every measurement under its own time limit, the whole
# run within 8 minutes, writing under $OUT (else results/accelerator_check/) with
# accelerator_check.json rewritten after every step. Everything is in
# benchmarks/accelerator_check.py (its docstring; --help lists the flags).
#
# Environment: PYTHON (the interpreter), OUT (the output folder), CFJAX_DATA_DIR (the data
# root --prepare copies from), CFJAX_ACCEL_ALLOW_CPU=1 (testing only: run the steps on a CPU,
# skipping the refusal and every install; use with --quick).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec "${PYTHON:-python3}" -m benchmarks.accelerator_check "$@"
