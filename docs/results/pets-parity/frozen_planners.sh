#!/usr/bin/env bash
# Planners on a fixed good model (README: "Why cem-gd learns slower"): every planner below
# for 3 episodes on the final model of the all-choices cem-500 run of seed 0 and of seed 1.
# Run from the repository root; rerunning resumes (finished episodes are skipped).
set -euo pipefail
C="return_mean=true,warm_fill=initial"
evaluate() {  # SEED PLANNER...
    local seed=$1; shift
    cemgd evaluate "docs/results/pets-parity/runs/all-choices/seed-$seed" --episodes 3 \
        --out "docs/results/pets-parity/frozen-planners/seed-$seed" --no-progress --planners "$@"
}
BOTH=("cem-500:$C,init_std=0.5" "cem-gd:$C" "cem:num_samples=10,num_iterations=5,$C,init_std=0.5"
      "cem:num_samples=10,num_iterations=5,$C,init_std=1.0" "cem-gd:$C,init_std=0.5" "cem-gd"
      "cem-gd-robust" "cem-gd:$C,n_replan=500" "cem-gd-authors")
evaluate 0 "${BOTH[@]}" "cem-500:warm_fill=initial,init_std=0.5" "cem-500:return_mean=true,init_std=0.5" \
    "cem-500:init_std=0.5" "cem-gd:warm_fill=initial" "cem-gd:return_mean=true"
evaluate 1 "${BOTH[@]}" "cem-gd:warm_fill=initial" "cem-500:init_std=0.5" \
    "cem-500:warm_fill=initial,init_std=0.5"
