#!/usr/bin/env bash
# Pusher: PETS at the paper's sizes (200-step trials, horizon 45, 20 particles,
# 5 x 3 x 200) with cem-gd-robust collecting the data (cem-gd with the paper's settings
# scored -457, -521, -428, -401 in its first 4 trials, below a uniform-random policy's
# -298); then every planner on the last model over 100-step episodes (the paper's are
# 200; CEM 5000 at about 9 s a step makes 200 too long here), 5 paired episodes each.
# Run from the repository root; rerun to resume. Progress so far is kept in the
# repository (docs/results/pusher/{run,eval}); a missing runs/ folder starts from it.
set -euo pipefail
HERE=docs/results/pusher
RUN=${RUN:-runs/pusher-robust}
EVAL=${EVAL:-runs/pusher-eval}
[ -d "$RUN" ] || { [ -d "$HERE/run" ] && cp -r "$HERE/run" "$RUN"; } || true
[ -d "$EVAL" ] || { [ -d "$HERE/eval" ] && cp -r "$HERE/eval" "$EVAL"; } || true
cemgd train --task pusher --planner cem-gd-robust --seed 0 --trials 12 --out "$RUN" \
    --no-progress $([ -f "$RUN/config.json" ] && echo --resume)
evaluate() {
    cemgd evaluate "$RUN" --episodes 5 --episode-length 100 --out "$EVAL" --no-progress \
        --planners "$@"
}
evaluate cem-gd-robust,cem-gd-robust:grad_objective=pessimistic \
    cem-gd-robust:grad_objective=cvar,cem-gd,cem-50,gd,cem-500
evaluate cem-5000
evaluate cem-gd:n_replan=10,cem-gd:n_replan=200,icem,mppi,gradcem
