"""What the paper reports (Huang et al., CEM-GD, Section 3), for the report to set beside ours."""

from __future__ import annotations

from typing import Any

#: The columns of the paper's Tables 1 and 2. "Cartpole" is the authors' cart-pole
#: (``cartpole-paper``); its numbers also stand beside ``cartpole-swingup``, cemgd's own
#: cart-pole, whose planners cost much the same.
TABLE_COLUMNS = ("cartpole-paper", "halfcheetah", "humanoid-standup", "pusher")


def _table(rows: dict[str, tuple[float, ...]]) -> dict[str, dict[str, float]]:
    """Planner -> task -> value, from one row of :data:`TABLE_COLUMNS` values per planner."""
    return {planner: {**dict(zip(TABLE_COLUMNS, values, strict=True)),
                      "cartpole-swingup": values[0]}
            for planner, values in rows.items()}


#: The paper's Table 1 (Sec. 3.3): average planning time per step, seconds.
PAPER_TABLE1_S: dict[str, dict[str, float]] = _table({
    "cem-50": (0.36, 0.36, 0.39, 0.36),
    "cem-500": (0.39, 0.39, 0.41, 0.38),
    "cem-5000": (3.35, 3.38, 3.44, 3.33),
    "cem-gd": (2.18, 2.63, 2.59, 2.58),
})

#: The paper's Table 2 (Sec. 3.3): peak memory usage, MB.
PAPER_TABLE2_MB: dict[str, dict[str, float]] = _table({
    "cem-50": (7.2, 8.1, 9.9, 8.3),
    "cem-500": (12.9, 14.3, 17.3, 14.4),
    "cem-5000": (12.9, 14.3, 17.3, 14.4),
    "cem-gd": (11.4, 12.2, 14.3, 12.4),
})

#: What the paper says about its hardware (checked in the text: nothing).
PAPER_HARDWARE = "not stated in the paper"

#: Task order of the paper's Figure 3; planners in the order of its legend.
TASK_ORDER = ("cartpole-paper", "cartpole-swingup", "pusher", "halfcheetah",
              "humanoid-standup")
PLANNER_ORDER = ("cem-50", "cem-500", "cem-5000", "gd", "cem-gd")

#: The paper's protocol (Sec. 3 and PETS) for the settings a sweep may change.
PAPER_SETTINGS: dict[str, Any] = {
    "horizon": 45, "hidden": 200, "num_layers": 3, "activation": "silu", "num_members": 5,
    "num_particles": 20, "trials": 12,
}

#: How we measure differently from the paper (one line each, for the report).
DIFFERENCES = (
    "Planning time is wall time of one jitted JAX planning step on the hardware stated "
    "above; the paper's implementation and hardware are not stated.",
    "Memory is the compiled step's XLA buffers and the process's peak RSS; the paper does "
    "not say how it measured peak memory.",
    "Figure 4's y-axis here is each run's best episode return (max over trials); the paper "
    "plots the maximum reward after 1200 training iterations averaged over 20 experiments.",
    "Claims are decided by paired differences with a 95% t interval over the seeds "
    "(or episodes) we ran; the paper reports means and standard deviations only.",
)
