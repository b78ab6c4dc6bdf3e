#!/usr/bin/env bash
# Pusher: PETS at the paper's sizes (200-step trials, horizon 45, 20 particles,
# 5 x 3 x 200) with cem-gd-robust collecting the data (cem-gd with the paper's settings
# scored -457, -521, -428, -401 in its first 4 trials, below a uniform-random policy's
# -298). Run from the repository root; rerun to resume. The run folder so far is kept in
# the repository (docs/results/pusher/run); a missing runs/ folder starts from it.
set -euo pipefail
HERE=docs/results/pusher
RUN=${RUN:-runs/pusher-robust}
[ -d "$RUN" ] || { [ -d "$HERE/run" ] && cp -r "$HERE/run" "$RUN"; } || true
cemgd train --task pusher --planner cem-gd-robust --seed 0 --trials 12 --out "$RUN" \
    --no-progress $([ -f "$RUN/config.json" ] && echo --resume)
