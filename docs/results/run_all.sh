#!/usr/bin/env bash
# The long runs of docs/results, one task after the other; each resumes where it stopped.
# Run from the repository root: bash docs/results/run_all.sh
# then bash docs/results/sync.sh && bash docs/results/reports.sh (see docs/results/README.md).
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
