#!/usr/bin/env bash
# Cart-pole swing-up: one PETS run at the paper's sizes, then every planner on its
# frozen trial-12 model (5 paired episodes each), the paper's planners first.
# Run from the repository root; rerun to resume (from runs/, which holds the models
# and buffers; docs/results keeps their results: bash docs/results/sync.sh).
TASK=cartpole RUN=${RUN:-runs/cartpole-paper} EVAL=${EVAL:-runs/cartpole-eval} EVAL_ARGS=""
source docs/results/lib.sh
train --task cartpole-swingup --planner cem-gd --trials 12
compare cem-gd,cem-50,gd,cem-500
