#!/usr/bin/env bash
# Copy the long runs' folders into docs/results (without their lock files, nor the
# replay buffer of a finished PETS run), so what they wrote so far can be committed and a
# later session resumes from it: each task's commands.sh starts from
# docs/results/<task>/{run,eval} when runs/ lacks them.
# Run from the repository root: bash docs/results/sync.sh && git add docs/results
set -euo pipefail
copy() {  # copy SRC DEST: the folder as it is now, replacing DEST
    [ -d "$1" ] || return 0
    rm -rf "$2.tmp" && mkdir -p "$2.tmp" && cp -r "$1/." "$2.tmp/" && rm -f "$2.tmp/.lock"
    # a finished PETS run's replay buffer is needed by nothing later (evaluate reads the
    # model): it stays out of the repository
    if python docs/results/trained.py "$1"; then rm -f "$2.tmp"/checkpoints/buffer-*.npz; fi
    rm -rf "$2" && mv "$2.tmp" "$2"
}
copy runs/cartpole-paper docs/results/cartpole/run
copy runs/cartpole-eval docs/results/cartpole/eval
copy runs/pusher-robust docs/results/pusher/run
copy runs/pusher-eval docs/results/pusher/eval
copy runs/halfcheetah-pets docs/results/halfcheetah/run
copy runs/halfcheetah-eval docs/results/halfcheetah/eval
copy runs/humanoid-pets docs/results/humanoid-standup/run
copy runs/humanoid-eval docs/results/humanoid-standup/eval
