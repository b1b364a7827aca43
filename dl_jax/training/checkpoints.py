"""Orbax checkpoints of the train state under ``WORKDIR/checkpoints/<step>``.

The state is stored as its plain state dict (``flax.serialization``), so a checkpoint is readable
without dl_jax and restores into any device layout: it is always saved and restored as one copy,
then replicated by ``DataParallel``.
"""

from __future__ import annotations

import os

import flax.serialization
import jax
import numpy as np


class Checkpointer:
    """Saves and restores train states; keeps the newest ``max_to_keep``.

    Args:
      directory: where step folders go (created on first save).
      max_to_keep: how many checkpoints survive.
    """

    def __init__(self, directory: str, max_to_keep: int = 2):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def latest_step(self) -> int | None:
        """Step of the newest complete checkpoint, or None."""
        return self._manager.latest_step()

    def save(self, step: int, state) -> None:
        """Starts saving ``state`` (a single-copy pytree) as checkpoint ``step``."""
        tree = flax.serialization.to_state_dict(jax.device_get(state))
        self._manager.save(step, args=self._ocp.args.StandardSave(tree))

    def restore(self, template, step: int | None = None):
        """Restores checkpoint ``step`` (default newest) into the structure of ``template``."""
        step = self.latest_step() if step is None else step
        target = flax.serialization.to_state_dict(jax.device_get(template))
        abstract = jax.tree.map(_abstract_like, target)
        restored = self._manager.restore(step, args=self._ocp.args.StandardRestore(abstract))
        return flax.serialization.from_state_dict(template, restored)

    def wait(self) -> None:
        """Blocks until asynchronous saves are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finishes pending saves and releases the manager."""
        self._manager.wait_until_finished()
        self._manager.close()


def _abstract_like(x):
    x = np.asarray(x)
    return jax.ShapeDtypeStruct(x.shape, x.dtype)
