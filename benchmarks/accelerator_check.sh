#!/usr/bin/env bash
# The first run on a GPU machine: install the CUDA jaxlib, measure everything, write the JSON.
#
#   bash benchmarks/accelerator_check.sh [--quick] [--dry_run]
#
# On a machine with an NVIDIA GPU this
#   1. installs the CUDA 12 build of jaxlib matching the installed jax
#      (pip install "jax[cuda12]==<installed jax version>"), into the Python of $PYTHON
#      (default: the repository's .venv, else python3);
#   2. checks that JAX now sees the GPU (jax.default_backend() == "gpu");
#   3. runs the throughput benchmark (python -m benchmarks.retrains_per_sec) and writes
#      benchmarks/results/retrains_per_sec_gpu.json;
#   4. runs one default table (python -m experiments.retrain_verify --preset=default) and
#      copies its table.json and config.json to benchmarks/results/retrain_verify_default_gpu*.json;
#   5. writes benchmarks/results/accelerator_check.json: nvidia-smi's GPU list, the versions,
#      the commands, their exit codes and wall times.
# On a machine without a GPU it prints this plan and refuses (exit code 2) before installing
# anything. --dry_run prints the plan and stops (exit 0) on any machine; --quick passes
# --quick to the benchmark and uses the smoke preset of the table.
#
# Environment: PYTHON (the interpreter), NVIDIA_SMI (the nvidia-smi command; tests point it at
# a missing program), CFJAX_DATA_DIR (the data root, as for every runner).
set -euo pipefail

QUICK=0
DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --dry_run|--dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "accelerator_check: unknown argument '$arg'; use --quick and/or --dry_run" >&2
       exit 64 ;;
  esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
NVIDIA_SMI="${NVIDIA_SMI:-nvidia-smi}"
RESULTS="$REPO/benchmarks/results"
TABLE_PRESET=default
BENCH_FLAGS=()
if [[ "$QUICK" == 1 ]]; then TABLE_PRESET=smoke; BENCH_FLAGS=(--quick); fi
TABLE_DIR="$REPO/results/accelerator_check/retrain_verify_${TABLE_PRESET}_gpu"

echo "accelerator_check: the plan"
echo "  1. $PYTHON -m pip install \"jax[cuda12]==<installed jax version>\""
echo "  2. check that jax.default_backend() is 'gpu'"
echo "  3. $PYTHON -m benchmarks.retrains_per_sec ${BENCH_FLAGS[*]:-} --output=$RESULTS/retrains_per_sec_gpu.json"
echo "  4. $PYTHON -m experiments.retrain_verify --preset=$TABLE_PRESET --output_dir=$TABLE_DIR"
echo "     then copy its table.json / config.json to $RESULTS/retrain_verify_${TABLE_PRESET}_gpu*.json"
echo "  5. write $RESULTS/accelerator_check.json (GPUs, versions, commands, exit codes, seconds)"

if [[ "$DRY_RUN" == 1 ]]; then
  echo "accelerator_check: --dry_run, nothing done"
  exit 0
fi

GPUS="$("$NVIDIA_SMI" -L 2>/dev/null || true)"
if ! grep -q '^GPU ' <<<"$GPUS"; then
  echo "accelerator_check: refusing: no NVIDIA GPU found ('$NVIDIA_SMI -L' lists none or is" \
       "not installed); nothing was installed or run. Run this on a machine with a GPU and" \
       "its driver (nvidia-smi working)." >&2
  exit 2
fi
echo "accelerator_check: found"; echo "$GPUS"

cd "$REPO"
JAX_VERSION="$("$PYTHON" -c 'import jax; print(jax.__version__)')"
STEPS_JSON=""
run_step() {  # name, command...: runs it, times it, records the exit code (and stops on failure)
  local name="$1"; shift
  echo "accelerator_check: [$name] $*"
  local start end code
  start=$(date +%s.%N)
  set +e; "$@"; code=$?; set -e
  end=$(date +%s.%N)
  STEPS_JSON+="$("$PYTHON" -c 'import json, sys; print(json.dumps(dict(step=sys.argv[1], command=sys.argv[2], exit_code=int(sys.argv[3]), seconds=round(float(sys.argv[5]) - float(sys.argv[4]), 1))) + ",")' "$name" "$*" "$code" "$start" "$end")"
  if [[ "$code" != 0 ]]; then
    write_summary
    echo "accelerator_check: [$name] failed with exit code $code (summary written)" >&2
    exit "$code"
  fi
}
write_summary() {
  mkdir -p "$RESULTS"
  "$PYTHON" - "$RESULTS/accelerator_check.json" "[${STEPS_JSON%,}]" "$GPUS" <<'EOF'
import datetime, json, sys
path, steps, gpus = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
try:
  import jax, jaxlib
  versions = dict(jax=jax.__version__, jaxlib=jaxlib.__version__,
                  backend=jax.default_backend(), devices=[str(d) for d in jax.devices()])
except Exception as error:  # the summary is written even when the install failed
  versions = dict(error=repr(error))
payload = dict(check="accelerator_check",
               timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               gpus=gpus.splitlines(), **versions, steps=steps)
with open(path, "w") as f:
  json.dump(payload, f, indent=2)
print(f"accelerator_check: wrote {path}")
EOF
}

run_step install "$PYTHON" -m pip install "jax[cuda12]==$JAX_VERSION"
run_step check_gpu "$PYTHON" -c \
  'import jax, sys; b = jax.default_backend(); print("jax backend:", b, jax.devices()); sys.exit(0 if b == "gpu" else 3)'
run_step throughput "$PYTHON" -m benchmarks.retrains_per_sec "${BENCH_FLAGS[@]}" \
  --output="$RESULTS/retrains_per_sec_gpu.json"
run_step table "$PYTHON" -m experiments.retrain_verify --preset="$TABLE_PRESET" \
  --output_dir="$TABLE_DIR"
cp "$TABLE_DIR/table.json" "$RESULTS/retrain_verify_${TABLE_PRESET}_gpu.json"
cp "$TABLE_DIR/config.json" "$RESULTS/retrain_verify_${TABLE_PRESET}_gpu_config.json"
write_summary
echo "accelerator_check: done; results in $RESULTS"
