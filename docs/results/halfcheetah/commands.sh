#!/usr/bin/env bash
# Half-cheetah: PETS with the published PETS protocol scaled to 2 cores (1000-step
# trials, horizon 30, 20 particles, a 5-member 4 x 200 ensemble; Chua et al. plan with
# CEM 500 x 5, here cem-gd-robust collects the data), 10 trials; then every planner on
# the last model over the paper's 100-step episodes (5 paired episodes each).
# Run from the repository root; rerun to resume (from runs/, which holds the models
# and buffers; docs/results keeps their results: bash docs/results/sync.sh).
TASK=halfcheetah RUN=${RUN:-runs/halfcheetah-pets} EVAL=${EVAL:-runs/halfcheetah-eval}
EVAL_ARGS="--episode-length 100"
source docs/results/lib.sh
train --task halfcheetah --planner cem-gd-robust --trials 10 --episode-length 1000 \
    --horizon 30 --num-layers 4
compare cem-gd,cem-50,gd,cem-500,cem-gd-robust
