#!/usr/bin/env bash
# Copy the long runs' results into docs/results, so what they wrote so far can be
# committed: each folder without its lock file, its episodes in progress (partial/) and
# its checkpoints (models and replay buffers, megabytes each), which stay in runs/. The kept copies are results to
# read and report on, not state to resume from: commands.sh resumes from runs/ only.
# Run from the repository root: bash docs/results/sync.sh && git add docs/results
set -euo pipefail
copy() {  # copy SRC DEST: the folder as it is now, replacing DEST
    [ -d "$1" ] || return 0
    rm -rf "$2.tmp" && mkdir -p "$2.tmp" && cp -r "$1/." "$2.tmp/" && rm -f "$2.tmp/.lock"
    rm -f "$2.tmp"/checkpoints/*.npz
    rm -rf "$2.tmp/partial"  # episodes in progress: state to resume from, in runs/ only
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
copy runs/halfcheetah-paper docs/results/halfcheetah/paper-run
copy runs/humanoid-paper docs/results/humanoid-standup/paper-run
