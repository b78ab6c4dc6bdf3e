"""What the paper reports (Huang et al., CEM-GD, Section 3), for the report to set beside ours."""

from __future__ import annotations

from typing import Any

#: The paper's Table 1 (Sec. 3.3): average planning time per step, seconds.
PAPER_TABLE1_S: dict[str, dict[str, float]] = {
    "cem-50": {"cartpole-swingup": 0.36, "halfcheetah": 0.36, "humanoid-standup": 0.39,
               "pusher": 0.36},
    "cem-500": {"cartpole-swingup": 0.39, "halfcheetah": 0.39, "humanoid-standup": 0.41,
                "pusher": 0.38},
    "cem-5000": {"cartpole-swingup": 3.35, "halfcheetah": 3.38, "humanoid-standup": 3.44,
                 "pusher": 3.33},
    "cem-gd": {"cartpole-swingup": 2.18, "halfcheetah": 2.63, "humanoid-standup": 2.59,
               "pusher": 2.58},
}

#: The paper's Table 2 (Sec. 3.3): peak memory usage, MB.
PAPER_TABLE2_MB: dict[str, dict[str, float]] = {
    "cem-50": {"cartpole-swingup": 7.2, "halfcheetah": 8.1, "humanoid-standup": 9.9,
               "pusher": 8.3},
    "cem-500": {"cartpole-swingup": 12.9, "halfcheetah": 14.3, "humanoid-standup": 17.3,
                "pusher": 14.4},
    "cem-5000": {"cartpole-swingup": 12.9, "halfcheetah": 14.3, "humanoid-standup": 17.3,
                 "pusher": 14.4},
    "cem-gd": {"cartpole-swingup": 11.4, "halfcheetah": 12.2, "humanoid-standup": 14.3,
               "pusher": 12.4},
}

#: What the paper says about its hardware (checked in the text: nothing).
PAPER_HARDWARE = "not stated in the paper"

#: Task order of the paper's Figure 3; planners in the order of its legend.
TASK_ORDER = ("cartpole-swingup", "pusher", "halfcheetah", "humanoid-standup")
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
