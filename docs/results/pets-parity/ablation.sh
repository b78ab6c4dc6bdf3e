#!/usr/bin/env bash
# PETS parity ablation (issue 29): cemgd's PETS on the PETS paper's cart-pole with
# mbrl-lib's pets_cartpole_paper_version settings (reduced as in the issue), as it is
# today ("baseline"), with each mbrl-lib choice switched on in turn, and with all of them.
#
#   bash docs/results/pets-parity/ablation.sh             # every variant, seeds 0 1 2
#   VARIANTS="baseline all" SEEDS="0" bash docs/results/pets-parity/ablation.sh
#   JOBS=3 bash docs/results/pets-parity/ablation.sh      # three runs at a time
#   python docs/results/pets-parity/table.py              # the table and the figure
#
# Run from the repository root. Each run goes to $OUT/VARIANT/seed-S (log beside it,
# seed-S.log); rerunning continues every unfinished run from its last completed trial
# and skips finished ones. Environment:
#   TASK     task (default pets-cartpole)       PLANNER  planner (default cem-500)
#   OUT      output folder (runs/pets-parity)   SEEDS    seeds (default "0 1 2")
#   VARIANTS variants to run (default: all)     JOBS     runs at a time (default 1)
#   EXTRA    flags appended to every run (they win), e.g. the smoke test:
#            TASK=cartpole-swingup OUT=runs/pets-parity-smoke SEEDS=0 \
#            EXTRA="--quick --trials 1 --episode-length 5" bash docs/results/pets-parity/ablation.sh
set -euo pipefail
TASK=${TASK:-pets-cartpole}
PLANNER=${PLANNER:-cem-500}
OUT=${OUT:-runs/pets-parity}
SEEDS=${SEEDS:-0 1 2}
JOBS=${JOBS:-1}
EXTRA=${EXTRA:-}
ALL_VARIANTS="defaults defaults-particle defaults-warm-fill baseline elites return-mean fixed-logvar decay-biases row-layout all warm-fill all-warm-fill keep-optimizer warm-fill-keep-optimizer partial-batch warm-fill-keep-optimizer-partial-batch all-choices three-fixed-logvar three-elites three-return-mean minus-elites minus-return-mean minus-fixed-logvar minus-decay-biases minus-row-layout"
VARIANTS=${VARIANTS:-$ALL_VARIANTS}

# The issue's settings: 200 random steps, 15 trials of 200 steps, CEM 100 x 5 with elite
# ratio 0.1 and alpha 0.9 (mbrl-lib's 0.1: the weight of the old mean there), horizon 30,
# 7 members of 4 x 64 SiLU, 20 particles TS1, 25 epochs, batch 256, weight decay 3e-5,
# no validation split, learning rate 1e-3.
issue_flags() {
    echo --task "$TASK" --planner "$PLANNER" --random-steps 200 --trials 15 \
        --episode-length 200 --horizon 30 --num-members 7 --num-layers 4 --hidden 64 \
        --activation silu --num-particles 20 --propagation ts1 \
        --train.epochs 25 --train.batch-size 256 --train.weight-decay 3e-5 \
        --train.val-fraction 0 --train.learning-rate 1e-3 \
        --planner.num-iterations 5 --planner.elite-ratio 0.1 --planner.alpha 0.9
    case "$PLANNER" in cem|cem-500) echo --planner.num-samples 100 ;; esac
}

# cemgd's defaults when the ablation started, so every variant but "defaults" stays what
# it measured: a fresh Adam state per trial, full minibatches, learned log-variance bounds,
# no decay on biases, all members, TS1 by particle; CEM's best sample, its tail repeated.
common_flags() {
    issue_flags
    echo --no-train.keep-optimizer --no-train.partial-batch --train.learn-logvar-bounds \
        --no-train.decay-biases --num-elites 0 --assignment particle
    case "$PLANNER" in cem|cem-500) echo --planner.return-mean false --planner.warm-fill last ;; esac
}

# One mbrl-lib choice per variant; "all" takes the model and particle ones and return-mean,
# "all-warm-fill" those and warm-fill.
variant_flags() {
    case "$1" in
        baseline) ;;
        elites) echo --num-elites 5 ;;                    # plan with the 5 best of 7
        return-mean) echo --planner.return-mean true ;;    # CEM's final mean, not its best
        fixed-logvar) echo --no-train.learn-logvar-bounds ;;  # bounds fixed, no penalty
        decay-biases) echo --train.decay-biases ;;         # weight decay on biases too
        row-layout) echo --assignment row ;;               # TS1 over all rows (mbrl-lib)
        all) for v in elites return-mean fixed-logvar decay-biases row-layout; do
                 variant_flags "$v"; done ;;
        warm-fill) echo --planner.warm-fill initial ;;     # warm start's new step at 0
        all-warm-fill) variant_flags all; variant_flags warm-fill ;;
        keep-optimizer) echo --train.keep-optimizer ;;     # one Adam state for the run
        warm-fill-keep-optimizer) variant_flags warm-fill; variant_flags keep-optimizer ;;
        partial-batch) echo --train.partial-batch ;;       # ceil(N / 256) minibatches
        warm-fill-keep-optimizer-partial-batch)
            variant_flags warm-fill-keep-optimizer; variant_flags partial-batch ;;
        all-choices) variant_flags all-warm-fill; variant_flags keep-optimizer
                     variant_flags partial-batch ;;           # every mbrl-lib choice
        three-*) variant_flags warm-fill-keep-optimizer-partial-batch  # and one of all's
                 variant_flags "${1#three-}" ;;
        minus-*) for v in elites return-mean fixed-logvar decay-biases row-layout warm-fill \
                          keep-optimizer partial-batch; do  # all-choices but one
                     [ "$v" = "${1#minus-}" ] || variant_flags "$v"; done ;;
        defaults) ;;  # cemgd's defaults (common_flags leaves the old ones out)
        defaults-particle) echo --assignment particle ;;  # and TS1 by particle
        defaults-warm-fill) variant_flags warm-fill ;;    # and the new step at 0
        *) echo "unknown variant '$1'; expected one of: $ALL_VARIANTS" >&2; return 2 ;;
    esac
}

run_flags() {  # VARIANT: the settings and the variant's choices
    case "$1" in defaults*) issue_flags ;; *) common_flags ;; esac
    variant_flags "$1"
}

run_one() {  # VARIANT SEED: one run, resumed if started, skipped if finished
    local variant=$1 seed=$2 run="$OUT/$1/seed-$2" flags
    flags="$(run_flags "$variant")"
    if python docs/results/trained.py "$run"; then echo "$run: all trials done"; return; fi
    mkdir -p "$OUT/$variant"
    local start=$SECONDS
    # shellcheck disable=SC2046,SC2086  # word splitting of the flag lists is meant
    cemgd train --out "$run" --seed "$seed" --no-progress --resume \
        $flags $EXTRA >"$OUT/$variant/seed-$seed.log" 2>&1 || {
        echo "$run: failed after $((SECONDS - start)) s (see $OUT/$variant/seed-$seed.log)" >&2
        return 1; }
    echo "$run: done in $((SECONDS - start)) s"
}

if [ "${1:-}" = "--one" ]; then run_one "$2" "$3"; exit; fi
if [ "${1:-}" = "--flags" ]; then echo $(run_flags "$2") $EXTRA; exit; fi

for v in $VARIANTS; do variant_flags "$v" >/dev/null; done  # unknown names fail first
for v in $VARIANTS; do for s in $SEEDS; do echo "$v $s"; done; done |
    xargs -P "$JOBS" -L 1 bash "$0" --one
