#!/usr/bin/env bash
# Pusher: PETS at the paper's sizes (200-step trials, horizon 45, 20 particles,
# 5 x 3 x 200) with cem-gd-robust collecting the data (cem-gd with the paper's settings
# scored -457, -521, -428, -401 in its first 4 trials, below a uniform-random policy's
# -298); then every planner on the last model over 100-step episodes (the paper's are
# 200; CEM 5000 at about 9 s a step makes 200 too long here), 5 paired episodes each.
# Run from the repository root; rerun to resume (from runs/, which holds the models
# and buffers; docs/results keeps their results: bash docs/results/sync.sh).
TASK=pusher RUN=${RUN:-runs/pusher-robust} EVAL=${EVAL:-runs/pusher-eval}
EVAL_ARGS="--episode-length 100"
source docs/results/lib.sh
train --task pusher --planner cem-gd-robust --trials 12
compare cem-gd-robust,cem-gd-robust:grad_objective=pessimistic \
    cem-gd-robust:grad_objective=cvar,cem-gd,cem-50,gd,cem-500
