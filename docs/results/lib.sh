# Sourced by each task's commands.sh (from the repository root), after it sets TASK
# (folder under docs/results), RUN and EVAL (folders under runs/) and EVAL_ARGS.
# Everything resumes from runs/ (models and replay buffers live there only; the copies in
# docs/results are results, without checkpoints): a missing runs/ folder starts afresh.
# train ARGS: `cemgd train`, resuming a started run; evaluate PLANNERS...: `cemgd evaluate`
# of the planners on the run's last model, EPISODES (default 5) paired episodes each
# (resumes row by row);
# compare PLANNERS: the comparison's queue: PLANNERS, the other settings, CEM 5000 last.
set -euo pipefail
train() {  # a finished run is skipped
    if python docs/results/trained.py "$RUN"; then echo "$RUN: all trials done"; return; fi
    cemgd train --seed 0 --out "$RUN" --no-progress "$@" \
        $([ -f "$RUN/config.json" ] && echo --resume)
}
evaluate() {
    # shellcheck disable=SC2086  # EVAL_ARGS is a list of flags
    cemgd evaluate "$RUN" --episodes "${EPISODES:-5}" --out "$EVAL" --no-progress $EVAL_ARGS --planners "$@"
}
compare() {  # CEM 5000 last: it costs more than all the others together
    evaluate "$@"
    evaluate cem-gd:n_replan=10,cem-gd:n_replan=200,cem-gd-robust \
        cem-gd-robust:grad_objective=pessimistic,cem-gd-robust:grad_objective=cvar \
        icem,mppi,gradcem
    evaluate cem-5000
}
mkdir -p runs
