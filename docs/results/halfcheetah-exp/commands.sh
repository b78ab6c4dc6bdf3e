#!/usr/bin/env bash
# The pre-registered half-cheetah experiment (plan.toml): two PETS models trained with the
# paper's CEM-GD collecting the data, then CEM-GD, CEM 500 and CEM 5000 on each frozen
# model over the planned paired episodes, then the report that decides the plan.
# Run from the repository root. Every step resumes when rerun: the run folders (with their
# frozen model; the replay buffers are not committed) and the evaluation folders live here.
set -euo pipefail
HERE=docs/results/halfcheetah-exp
train_model() {  # K SEED: a finished run is skipped
    local out="$HERE/model-$1/run"
    if python docs/results/trained.py "$out"; then echo "$out: all trials done"; return; fi
    cemgd train --task halfcheetah --planner cem-gd --trials 10 --episode-length 1000 \
        --horizon 30 --num-layers 4 --seed "$2" --out "$out" --no-progress \
        $([ -f "$out/config.json" ] && echo --resume)
}
evaluate_model() {  # K EPISODES: the planned episodes, CEM 5000 last (the costliest)
    for planners in cem-gd,cem-500 cem-5000; do
        cemgd evaluate "$HERE/model-$1/run" --planners "$planners" --episodes "$2" \
            --episode-length 100 --out "$HERE/model-$1/eval" --no-progress
    done
}
case "${1:-all}" in
    train-1) train_model 1 1 ;;
    train-2) train_model 2 2 ;;
    eval-1) evaluate_model 1 20 ;;
    eval-2) evaluate_model 2 8 ;;
    timing-1|timing-2) k=${1#timing-}  # run alone: it records whether the machine was idle
        python benchmarks/paired_step_time.py "$HERE/model-$k/run" \
            --planners cem-gd,cem-500,cem-5000 --episode-length 100 --out "$HERE/model-$k/timing" ;;
    report) cemgd report "$HERE" --out "$HERE/report" --plan "$HERE/plan.toml" ;;
    all) train_model 1 1; train_model 2 2; evaluate_model 1 20; evaluate_model 2 8
         cemgd report "$HERE" --out "$HERE/report" --plan "$HERE/plan.toml" ;;
    *) echo "usage: $0 [train-1|train-2|eval-1|eval-2|timing-1|timing-2|report|all]" >&2; exit 2 ;;
esac
