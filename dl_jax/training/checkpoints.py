"""Orbax checkpoints of any resumable state under ``DIRECTORY/<step>`` — the one mechanism.

The trainer's state, the RBM's epochs and the DBN's stack are all saved here. A state is stored
as its plain state dict (``flax.serialization``), so a checkpoint is readable without dl_jax
and restores into any device layout: it is saved and restored as one copy, then replicated by
``DataParallel``. Beside the arrays each checkpoint holds a SHA-256 of their bytes; restoring
verifies it.

Saves are atomic (Orbax writes to a temporary folder and renames it) and the newest
``max_to_keep`` are kept. ``restore_latest`` walks back from the newest checkpoint: one that
fails to restore or verify (truncated, garbled, partly deleted) is reported with a warning and
moved aside to ``DIRECTORY.corrupt/<step>`` — never deleted — and the next older one is tried.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import flax.serialization
import jax
import numpy as np
from absl import logging

from dl_jax.errors import UserError


class Checkpointer:
    """Saves and restores pytrees (train states, RBM states, …); keeps the newest ``max_to_keep``.

    Args:
      directory: where step folders go (created on first save).
      max_to_keep: how many checkpoints survive.
    """

    def __init__(self, directory: str, max_to_keep: int = 2):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = os.path.abspath(directory)
        self._max_to_keep = max_to_keep
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise UserError(f"{self.directory} is a file, not a checkpoint folder")
        self._manager = self._open()

    def _open(self):
        return self._ocp.CheckpointManager(
            self.directory, item_names=("state", "meta"),
            options=self._ocp.CheckpointManagerOptions(max_to_keep=self._max_to_keep,
                                                       create=True),
        )

    def latest_step(self) -> int | None:
        """Step of the newest complete checkpoint, or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """Steps of all complete checkpoints, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, step: int, state) -> None:
        """Starts saving ``state`` (a single-copy pytree) as checkpoint ``step``."""
        tree = flax.serialization.to_state_dict(jax.device_get(state))
        self._manager.save(step, args=self._ocp.args.Composite(
            state=self._ocp.args.StandardSave(tree),
            meta=self._ocp.args.JsonSave({"sha256": tree_digest(tree)}),
        ))

    def restore(self, template, step: int | None = None):
        """Restores checkpoint ``step`` (default newest) into the structure of ``template``.

        Raises:
          CorruptCheckpoint: the checkpoint cannot be read or its digest does not match.
        """
        step = self.latest_step() if step is None else step
        target = flax.serialization.to_state_dict(jax.device_get(template))
        abstract = jax.tree.map(_abstract_like, target)
        try:
            restored = self._manager.restore(step, args=self._ocp.args.Composite(
                state=self._ocp.args.StandardRestore(abstract),
                meta=self._ocp.args.JsonRestore(),
            ))
        except Exception as error:  # noqa: BLE001 - any read failure means "corrupt"
            raise CorruptCheckpoint(step, f"{type(error).__name__}: {error}") from error
        if restored["meta"].get("sha256") != tree_digest(restored["state"]):
            raise CorruptCheckpoint(step, "its arrays do not match the saved SHA-256")
        return flax.serialization.from_state_dict(template, restored["state"])

    def restore_latest(self, template) -> tuple[int | None, object]:
        """(step, state) of the newest checkpoint that restores and verifies; (None, template).

        Corrupt checkpoints on the way are moved aside with a warning. If checkpoints exist but
        none restores, raises a ``UserError`` (one line) instead of starting over.
        """
        self._manager.wait_until_finished()
        moved = []
        for step in reversed(self.all_steps()):
            try:
                return step, self.restore(template, step)
            except CorruptCheckpoint as error:
                moved.append(self._move_aside(step))
                logging.warning("checkpoint step %d is unusable (%s); moved to %s", step,
                                error.reason, moved[-1])
        if moved:
            raise UserError(f"no checkpoint in {self.directory} restores (moved aside to "
                            f"{os.path.dirname(moved[0])}); use a fresh --workdir or delete "
                            "the checkpoints to start over")
        return None, template

    def _move_aside(self, step: int) -> str:
        """Moves step ``step``'s folder to ``DIRECTORY.corrupt/`` and reopens the manager."""
        source = os.path.join(self.directory, str(step))
        target_dir = self.directory + ".corrupt"
        os.makedirs(target_dir, exist_ok=True)
        target, n = os.path.join(target_dir, str(step)), 1
        while os.path.exists(target):
            target, n = os.path.join(target_dir, f"{step}.{n}"), n + 1
        shutil.move(source, target)
        self._manager.close()
        self._manager = self._open()
        return target

    def wait(self) -> None:
        """Blocks until asynchronous saves are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finishes pending saves and releases the manager."""
        self._manager.wait_until_finished()
        self._manager.close()


class CorruptCheckpoint(Exception):
    """A checkpoint that cannot be read or does not verify."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"checkpoint step {step}: {reason}")
        self.step, self.reason = step, reason


def tree_digest(tree) -> str:
    """SHA-256 over a pytree's leaves (paths, dtypes, shapes and bytes), order-independent."""
    digest = hashlib.sha256()
    for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(tree),
                             key=lambda item: jax.tree_util.keystr(item[0])):
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _abstract_like(x):
    x = np.asarray(x)
    return jax.ShapeDtypeStruct(x.shape, x.dtype)
