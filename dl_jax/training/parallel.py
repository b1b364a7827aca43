"""Data parallelism: one global-batch program by default, explicit per-device forms on request.

``config.parallel`` selects how a train/eval step is run over the devices:

* ``jit`` (default): one ``jax.jit`` program over the GLOBAL batch, the batch split along its
  leading axis with ``NamedSharding(mesh, P('data'))`` on a 1-D ``data`` mesh of every device (all
  hosts'), state replicated (``P()``). The step is written for the global batch with no
  collectives; the compiler inserts the gradient all-reduce. Dropout masks, augmentation and
  batch-norm statistics are those of the global batch, so results do not depend on the device
  count (up to float rounding of the reductions).
* ``shard_map``: the per-device form, ``jax.shard_map`` over the same mesh; the step averages
  gradients with ``lax.pmean(..., 'data')``.
* ``pmap``: the per-device form as ``jax.pmap`` over this process's devices (state carries a
  leading device axis).
* ``none``: plain ``jax.jit`` on one device.

The per-device forms trace the step inside ``dl_jax.models.layers.per_device_batch('data')``, so
dropout keeps its rows of the global batch's mask and batch norm synchronises its statistics
over the axis: all four modes compute the same function (tested). Each process feeds its
contiguous slice of the global batch (``dl_jax.data.process_slice``); with
``jax.distributed.initialize()`` called first, the mesh spans every host.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from dl_jax.errors import UserError

AXIS = "data"
MODES = ("jit", "shard_map", "pmap", "none")
PER_DEVICE_MODES = ("shard_map", "pmap")


class DataParallel:
    """Places state and batches on devices and maps per-device functions over them.

    Args:
      mode: one of ``MODES``.
      num_devices: how many devices to use (0 = all). Multi-host runs must use all.
    """

    def __init__(self, mode: str, num_devices: int = 0):
        if mode not in MODES:
            raise UserError(f"unknown parallel mode {mode!r}: choose one of {', '.join(MODES)}")
        self.mode = mode
        if mode == "none":
            devices = jax.local_devices()[:1]
        elif mode == "pmap":
            devices = jax.local_devices()
        else:
            devices = jax.devices()
        if num_devices:
            if num_devices > len(devices):
                raise UserError(f"num_devices={num_devices} but only {len(devices)} available")
            if jax.process_count() > 1 and num_devices != len(devices):
                raise UserError("multi-host runs use every device (num_devices=0)")
            devices = devices[:num_devices]
        self.devices = list(devices)
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self._replicated = NamedSharding(self.mesh, P())
        self._split = NamedSharding(self.mesh, P(AXIS))

    @property
    def num_devices(self) -> int:
        """Devices taking part (all hosts' for shard_map)."""
        return len(self.devices)

    @property
    def axis_name(self) -> str | None:
        """The collective axis a per-device step reduces over; None for global-batch programs."""
        return AXIS if self.mode in PER_DEVICE_MODES else None

    def check_batch_size(self, global_batch_size: int, what: str = "batch_size") -> None:
        """Raises a UserError unless the global batch splits evenly over the devices."""
        if global_batch_size % self.num_devices:
            raise UserError(
                f"{what} {global_batch_size} is not divisible by the device count "
                f"{self.num_devices} (parallel={self.mode}); pick a multiple of "
                f"{self.num_devices} or set --config.num_devices"
            )

    def replicate(self, tree):
        """Puts a host/single-copy pytree on every device in this mode's layout."""
        if self.mode == "pmap":
            # A leading device axis; pmap moves each slice to its device on the first call.
            n = len(self.devices)
            return jax.tree.map(lambda x: np.broadcast_to(np.asarray(x), (n,) + np.shape(x)), tree)
        if self.mode == "none":
            return jax.device_put(tree, self.devices[0])
        return jax.device_put(tree, self._replicated)

    def unreplicate(self, tree):
        """One copy of a replicated pytree (what checkpoints and evaluation code see)."""
        if self.mode == "pmap":
            return jax.tree.map(lambda x: x[0], tree)
        return tree

    def shard_batch(self, local_batch):
        """Turns this process's numpy slice of the global batch into device arrays."""
        if self.mode == "pmap":
            n = len(self.devices)
            return jax.tree.map(lambda x: x.reshape((n, -1) + x.shape[1:]), local_batch)
        if self.mode == "none":
            return jax.device_put(local_batch, self.devices[0])
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(self._split, x), local_batch
        )

    def map(self, step_fn: Callable, *, donate_state: bool) -> Callable:
        """Runs ``step_fn(replicated, batch) -> replicated outputs`` over the devices.

        The first argument is replicated (and donated when ``donate_state``), the second split
        along its leading axis. In ``jit`` and ``none`` mode ``step_fn`` sees the global batch;
        in the per-device modes it sees one device's shard and must reduce its outputs over
        ``'data'`` itself (build it with ``axis_name=self.axis_name``).
        """
        donate = (0,) if donate_state else ()
        if self.mode == "none":
            return jax.jit(step_fn, donate_argnums=donate)
        if self.mode == "jit":
            return jax.jit(step_fn, in_shardings=(self._replicated, self._split),
                           out_shardings=self._replicated, donate_argnums=donate)
        per_device_fn = _traced_per_device(step_fn)
        if self.mode == "pmap":
            return jax.pmap(per_device_fn, axis_name=AXIS, donate_argnums=donate,
                            devices=self.devices)
        # check_vma=False gives pmap's per-device semantics, which the step is written for:
        # with varying-manual-axes tracking on, differentiating replicated params against a
        # per-device loss already psums the gradient, and the step's pmean would then leave
        # N times the mean gradient (Adam hides that; SGD does not — see tests).
        mapped = jax.shard_map(
            per_device_fn, mesh=self.mesh, in_specs=(P(), P(AXIS)), out_specs=P(),
            check_vma=False,
        )
        return jax.jit(mapped, donate_argnums=donate)


def _traced_per_device(step_fn: Callable) -> Callable:
    """``step_fn`` traced inside ``per_device_batch(AXIS)`` (global-batch dropout / batch norm)."""
    from dl_jax.models.layers import per_device_batch

    @functools.wraps(step_fn)
    def traced(*args):
        with per_device_batch(AXIS):
            return step_fn(*args)

    return traced


def maybe_pmean(tree, axis_name: str | None):
    """``lax.pmean`` over ``axis_name``, or the identity when not data parallel."""
    if axis_name is None:
        return tree
    return jax.lax.pmean(tree, axis_name)


def maybe_psum(tree, axis_name: str | None):
    """``lax.psum`` over ``axis_name``, or the identity when not data parallel."""
    if axis_name is None:
        return tree
    return jax.lax.psum(tree, axis_name)


def device_index(axis_name: str | None):
    """This device's position on the data axis (0 when not data parallel)."""
    if axis_name is None:
        return 0
    return jax.lax.axis_index(axis_name)


@functools.cache
def initialize_distributed() -> None:
    """Joins a multi-host job when launched as one (env set by the launcher); else no-op.

    ``jax.distributed.initialize()`` auto-detects Cloud TPU, SLURM (a multi-task ``srun``
    step, see ``launch/slurm.sbatch``) and Open MPI; elsewhere set
    JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID (see launch/README.md).
    """
    import os

    env = os.environ
    if env.get("DL_JAX_NO_DISTRIBUTED") == "1":
        return
    if "JAX_COORDINATOR_ADDRESS" in env:
        jax.distributed.initialize(
            coordinator_address=env["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(env["JAX_NUM_PROCESSES"]) if "JAX_NUM_PROCESSES" in env else None,
            process_id=int(env["JAX_PROCESS_ID"]) if "JAX_PROCESS_ID" in env else None,
        )
        return
    # JAX's SLURM detection needs a step's variables; a shell inside salloc (or the batch
    # script itself) has SLURM_JOB_ID only, and a plain command there runs one process.
    slurm_step = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
                  "SLURM_LOCALID")
    if all(k in env for k in slurm_step) and int(env["SLURM_NTASKS"]) > 1:
        jax.distributed.initialize()  # a multi-task srun step (launch/slurm.sbatch)
    elif any(k in env for k in ("OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES")):
        jax.distributed.initialize()  # Auto-detected cluster environments.
