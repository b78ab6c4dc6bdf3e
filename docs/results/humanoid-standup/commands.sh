#!/usr/bin/env bash
# Humanoid standup (the 45-D truncated state of Janner et al., 17-D actions): PETS with
# the half-cheetah protocol (1000-step trials, horizon 30, 20 particles, a 5-member
# 4 x 200 ensemble, cem-gd-robust collecting), 10 trials; then every planner on the last
# model over the paper's 100-step episodes (5 paired episodes each).
# Run from the repository root; rerun to resume (from runs/, which holds the models
# and buffers; docs/results keeps their results: bash docs/results/sync.sh).
TASK=humanoid-standup RUN=${RUN:-runs/humanoid-pets} EVAL=${EVAL:-runs/humanoid-eval}
EVAL_ARGS="--episode-length 100"
source docs/results/lib.sh
train --task humanoid-standup --planner cem-gd-robust --trials 10 --episode-length 1000 \
    --horizon 30 --num-layers 4
compare cem-gd,cem-50,gd,cem-500,cem-gd-robust
