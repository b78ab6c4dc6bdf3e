#!/usr/bin/env bash
# Regenerate every report under docs/results from the copies sync.sh made: per task the
# learning curve of its PETS run (`learning/`, and `paper-learning/` for the paper's short
# protocol) and the planner comparison (`report/`), each with the uniform-random policy
# measured over 10 episodes at the lengths the folder uses and drawn as a dashed line;
# then `comparison/`: the four comparisons in one report (Tables 1 and 2 in the paper's
# shape, one column per task, and every claim per task), from copies of the eval folders
# gathered in runs/comparison (a report reads the folders under one root).
# Run from the repository root: bash docs/results/sync.sh && bash docs/results/reports.sh
set -euo pipefail
export MUJOCO_GL="${MUJOCO_GL:-egl}"
R=docs/results
report() {  # report SRC DEST [OPTION...]: when SRC exists
    [ -d "$1" ] || return 0
    cemgd report "$1" --out "$2" --random-episodes 10 "${@:3}"
}
for task in cartpole pusher halfcheetah humanoid-standup; do
    # a run still going is reported as it stands (REPORT.md says so at the top)
    report "$R/$task/run" "$R/$task/learning" --include-incomplete
    report "$R/$task/paper-run" "$R/$task/paper-learning" --include-incomplete
    report "$R/$task/eval" "$R/$task/report"
done
rm -rf runs/comparison && mkdir -p runs/comparison
for task in cartpole pusher halfcheetah humanoid-standup; do
    [ -d "$R/$task/eval" ] && cp -r "$R/$task/eval" "runs/comparison/$task"
done
report runs/comparison "$R/comparison"
