"""The gymnasium MuJoCo tasks' common base: :class:`MujocoTask`.

gymnasium's own model files still use MuJoCo attributes that MuJoCo 3.3 and later call
deprecated (half-cheetah's ``settotalmass``); MuJoCo prints that warning each time an
environment is built, which in a run or an evaluation is every episode. Those
deprecations concern gymnasium's assets, not anything a user of cemgd can change, so
:class:`MujocoTask` drops exactly them while the model compiles and passes every other
MuJoCo warning on, to standard error as MuJoCo does.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cemgd.tasks.env import EnvTask

if TYPE_CHECKING:  # pragma: no cover
    import gymnasium

#: MuJoCo warnings about gymnasium's model files, dropped while a task's model compiles.
ASSET_DEPRECATIONS = ("compiler attribute 'settotalmass' is deprecated",)


@contextlib.contextmanager
def _quiet_asset_warnings() -> Iterator[None]:
    """While the block runs, MuJoCo warnings in :data:`ASSET_DEPRECATIONS` are dropped and
    the others printed to standard error; MuJoCo's handler is restored after."""
    try:
        import mujoco
    except ImportError:  # gymnasium raises its own clear error for a missing simulator
        yield
        return
    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if any(m in message for m in ASSET_DEPRECATIONS):
            return
        if previous is not None:
            previous(message)
        else:
            print(f"WARNING: {message}", file=sys.stderr)

    mujoco.set_mju_user_warning(handler)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


class MujocoTask(EnvTask):
    """Base of the tasks on a gymnasium MuJoCo environment ``env_id``.

    A subclass sets ``env_id``, the action box ``[low, high]^A`` (checked against the
    environment's ``action_space`` in the tests) and the keyword arguments of
    ``gymnasium.make`` (:meth:`env_kwargs`); gymnasium's own time limit is replaced by
    ``episode_length``.
    """

    env_id: ClassVar[str]
    low: ClassVar[float]
    high: ClassVar[float]
    num_actions: ClassVar[int]

    @property
    def action_low(self) -> np.ndarray:
        """Lower action bound ``[A]``."""
        return np.full((self.num_actions,), self.low, dtype=np.float32)

    @property
    def action_high(self) -> np.ndarray:
        """Upper action bound ``[A]``."""
        return np.full((self.num_actions,), self.high, dtype=np.float32)

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``gymnasium.make(env_id, ...)``."""
        return {}

    def make_base_env(self, render_mode: str | None = None) -> gymnasium.Env:
        import gymnasium  # the caller (make_env) checked it is installed

        kwargs = self.env_kwargs()
        if render_mode is not None:
            kwargs.update(render_mode=render_mode, width=240, height=240)
        with _quiet_asset_warnings():
            return gymnasium.make(self.env_id, disable_env_checker=True, **kwargs).unwrapped
