#!/usr/bin/env bash
# Cart-pole swing-up: one PETS run at the paper's sizes, then every planner on its
# frozen trial-12 model (5 paired episodes each), the paper's planners first.
# Run from the repository root. Every command resumes: rerun this script to finish a
# killed run. The run folder and the evaluation rows so far are kept in the repository
# (docs/results/cartpole/run, .../eval); a missing runs/ folder starts from them.
set -euo pipefail
HERE=docs/results/cartpole
RUN=${RUN:-runs/cartpole-paper}
EVAL=${EVAL:-runs/cartpole-eval}
[ -d "$RUN" ] || { [ -d "$HERE/run" ] && cp -r "$HERE/run" "$RUN"; } || true
[ -d "$EVAL" ] || { [ -d "$HERE/eval" ] && cp -r "$HERE/eval" "$EVAL"; } || true
cemgd train --task cartpole-swingup --planner cem-gd --seed 0 --trials 12 --out "$RUN" \
    --no-progress $([ -f "$RUN/config.json" ] && echo --resume)
evaluate() { cemgd evaluate "$RUN" --episodes 5 --out "$EVAL" --no-progress --planners "$@"; }
evaluate cem-gd,cem-50,gd,cem-500
evaluate cem-5000
evaluate cem-gd:n_replan=10,cem-gd:n_replan=200,cem-gd-robust \
    cem-gd-robust:grad_objective=pessimistic,cem-gd-robust:grad_objective=cvar \
    icem,mppi,gradcem
