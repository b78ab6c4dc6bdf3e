#!/usr/bin/env bash
# The paper's own short protocol on the two tasks whose comparison runs on a long-trial
# PETS model: 12 trials of 100 steps with cem-gd at the paper's sizes (horizon 45,
# 20 particles, a 5-member 3 x 200 ensemble), the `cemgd train` defaults, as for
# cart-pole (docs/results/cartpole/commands.sh) and pusher (200-step trials). These
# learning curves stand beside the paper's Figure 3; the planner comparison stays on
# the long runs' models. Run from the repository root; rerun to resume.
TASK=short EVAL=unused EVAL_ARGS=""
RUN=runs/halfcheetah-paper
source docs/results/lib.sh
train --task halfcheetah --planner cem-gd --trials 12
RUN=runs/humanoid-paper
train --task humanoid-standup --planner cem-gd --trials 12
