#!/usr/bin/env bash
# The cart-pole comparison on the CEM-GD authors' cart-pole (`cartpole-paper`): PETS with
# the paper's CEM-GD collecting the data (12 trials of the task's 60 steps, the paper's
# sizes), then every planner of the paper's cart-pole claims on the last, frozen model
# over 12 paired episodes each (n fixed here before any episode ran), then the report.
# Run from the repository root; every step resumes when rerun (the run folder, with its
# last checkpoint, and the evaluation folder live here).
set -euo pipefail
HERE=docs/results/cartpole-paper
if ! python docs/results/trained.py "$HERE/run"; then
    cemgd train --task cartpole-paper --planner cem-gd --trials 12 --seed 0 \
        --out "$HERE/run" --no-progress $([ -f "$HERE/run/config.json" ] && echo --resume)
fi
for planners in cem-gd,cem-50,gd,cem-500 cem-5000; do
    cemgd evaluate "$HERE/run" --planners "$planners" --episodes 12 --out "$HERE/eval" \
        --no-progress
done
cemgd report "$HERE/run" --out "$HERE/learning" --random-episodes 20
cemgd report "$HERE/eval" --out "$HERE/report" --random-episodes 20
