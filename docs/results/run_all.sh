#!/usr/bin/env bash
# The long runs of docs/results, one task after the other; each resumes where it stopped.
# Run from the repository root, e.g. in the background at the start of a sitting:
#     MUJOCO_GL=egl setsid nohup bash docs/results/run_all.sh > runs/all.log 2>&1 < /dev/null &
#     echo 19 > /proc/$!/autogroup   # the whole session yields to other work (see README)
# and from time to time: bash docs/results/sync.sh && git add docs/results && git commit
set -uo pipefail
mkdir -p runs
for task in cartpole pusher halfcheetah humanoid-standup; do
    echo "== $task $(date -u +%FT%TZ)"
    bash "docs/results/$task/commands.sh" || echo "== $task failed ($?)"
done
echo "== short protocol $(date -u +%FT%TZ)"
bash docs/results/short_protocol.sh || echo "== short protocol failed ($?)"
echo "== more episodes for the undecided claims $(date -u +%FT%TZ)"
bash docs/results/decide.sh || echo "== decide failed ($?)"
