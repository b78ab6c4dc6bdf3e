#!/usr/bin/env bash
# One check of cemgd on an NVIDIA GPU, in under 8 minutes:
#   1. install the `cuda` extra (skipped when JAX already sees a GPU) and print the devices,
#   2. the planner contract tests (tests/test_contract.py) on the GPU,
#   3. `cemgd bench` at the paper's sizes (5 x 3 x 200 ensemble, T = 45, half-cheetah dims),
#   4. one paper-size PETS trial of cem-gd and of cem-5000 on half-cheetah,
# then a table of step times. Every stage has its own time limit and the GPU check as a
# whole a deadline of 470 s (a stage gets what is left of it, a stage with nothing left is
# skipped), so it ends in under 8 minutes even where a stage hangs; a stage that fails,
# runs out or is skipped is reported and the check goes on (exit status 1 at the end).
#
#   bash benchmarks/gpu_check.sh          # on a machine with an NVIDIA GPU
#   bash benchmarks/gpu_check.sh --cpu    # reduced form on the CPU: no install, quick sizes
#
# Results go to $OUT when it is set (else a new temporary folder): gpu_check.txt (the
# summary printed at the end), stage logs, bench/ (bench.csv, bench.md) and pets-*/ run
# folders.
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=gpu
for arg in "$@"; do
    case "$arg" in
        --cpu) MODE=cpu ;;
        -h|--help) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $arg (expected --cpu)" >&2; exit 2 ;;
    esac
done
RESULTS="${OUT:-$(mktemp -d -t cemgd-gpu-check-XXXX)}"
mkdir -p "$RESULTS"
SUMMARY="$RESULTS/gpu_check.txt"
: > "$SUMMARY"
export MUJOCO_GL="${MUJOCO_GL:-egl}" CEMGD_NO_PROGRESS=1
PY="${PYTHON:-python3}"
FAILED=0

say() { echo "$*" | tee -a "$SUMMARY"; }
DEADLINE=$(( $(date +%s) + ${GPU_CHECK_BUDGET_S:-470} ))

# stage NAME LIMIT_S COMMAND...: run with a time limit, log to $RESULTS/NAME.log, report.
stage() {
    local name="$1" limit="$2"; shift 2
    local start end code left
    start=$(date +%s)
    left=$(( DEADLINE - start ))
    if [ "$left" -lt 10 ]; then
        say "stage $name: SKIPPED (the check's deadline has passed)"; FAILED=1; return
    fi
    if [ "$left" -lt "$limit" ]; then limit=$left; fi
    timeout "$limit" "$@" > "$RESULTS/$name.log" 2>&1
    code=$?
    end=$(date +%s)
    if [ "$code" -eq 0 ]; then
        say "stage $name: passed in $((end - start)) s"
    elif [ "$code" -eq 124 ]; then
        say "stage $name: TIMED OUT after ${limit} s (log: $RESULTS/$name.log)"; FAILED=1
    else
        say "stage $name: FAILED (exit $code) in $((end - start)) s (log: $RESULTS/$name.log)"
        tail -n 5 "$RESULTS/$name.log"; FAILED=1
    fi
}

if [ "$MODE" = gpu ]; then
    command -v nvidia-smi >/dev/null && nvidia-smi -L | tee -a "$SUMMARY"
    if ! "$PY" -c "import jax, sys; sys.exit(0 if jax.default_backend() == 'gpu' else 1)" \
            2>/dev/null; then
        stage install 200 "$PY" -m pip install -q -e ".[cuda]"
    fi
    CONTRACT=(tests/test_contract.py -q -x -p no:cacheprovider)
    BENCH=(--planners cem-50 cem-500 cem-5000 gd "cem-gd:n_init=50,n_replan=50" cem-gd
           --repeats 20 --warmup 3)
    PETS=(--trials 1)            # paper sizes: 500 random steps, 5 x 3 x 200, T = 45, P = 20
    LIMITS=(150 120 90)          # contract, bench, each PETS trial (s)
else
    export JAX_PLATFORMS=cpu
    DEADLINE=$(( $(date +%s) + ${GPU_CHECK_BUDGET_S:-3600} ))  # CPUs: no 8-minute promise
    CONTRACT=(tests/test_contract.py -q -x -p no:cacheprovider -k
              "registry or plan_shape_info")
    BENCH=(--quick --planners cem-50 "cem-gd:n_init=50,n_replan=50" --repeats 3 --warmup 1)
    PETS=(--quick --trials 1 --episode-length 5)
    LIMITS=(900 600 600)
fi

say "cemgd gpu_check ($MODE): results in $RESULTS"
"$PY" - <<'EOF' | tee -a "$SUMMARY"
import jax
from cemgd.runtime import hardware_info
info = hardware_info()
print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices: {info['devices']}")
EOF

stage contract "${LIMITS[0]}" "$PY" -m pytest "${CONTRACT[@]}"
stage bench "${LIMITS[1]}" "$PY" -m cemgd.cli bench --out "$RESULTS/bench" "${BENCH[@]}"
for planner in cem-gd cem-5000; do
    rm -rf "$RESULTS/pets-$planner"
    stage "pets-$planner" "${LIMITS[2]}" "$PY" -m cemgd.cli train --task halfcheetah \
        --planner "$planner" --no-progress --out "$RESULTS/pets-$planner" "${PETS[@]}"
done

"$PY" - "$RESULTS" <<'EOF' | tee -a "$SUMMARY"
import csv
import sys
from pathlib import Path

root = Path(sys.argv[1])
bench = root / "bench" / "bench.csv"
if bench.is_file():
    print("cemgd bench (replan step; ms):")
    for row in csv.DictReader(bench.open()):
        print(f"  {row['spec']:<40} median {float(row['median_ms']):9.2f} ms  "
              f"p90 {float(row['p90_ms']):9.2f} ms  rollouts {row['num_rollouts']:>6}  "
              f"compile {float(row['compile_s']):6.2f} s")
for planner in ("cem-gd", "cem-5000"):
    metrics = root / f"pets-{planner}" / "metrics.csv"
    if metrics.is_file():
        for row in csv.DictReader(metrics.open()):
            print(f"PETS half-cheetah {planner} trial {row['trial']}: plan "
                  f"{float(row['plan_ms_mean']):.2f} ms/step (first {float(row['plan_ms_first']):.1f},"
                  f" max {float(row['plan_ms_max']):.1f}), {float(row['rollouts_per_step']):.0f} "
                  f"rollouts/step, {row['episode_steps']} steps, compile "
                  f"{float(row['compile_s']):.1f} s, train {float(row['train_s']):.1f} s, "
                  f"return {float(row['episode_return']):.1f}")
EOF
if [ "$FAILED" -eq 0 ]; then say "gpu_check ($MODE): all stages passed"; else say "gpu_check ($MODE): some stages failed"; fi
exit "$FAILED"
