"""Layers whose randomness and statistics belong to the global batch, on any device layout.

The default data-parallel program (``config.parallel = 'jit'``) is one ``jax.jit`` of the
global-batch step: there a ``Dropout`` mask is drawn for the whole batch and batch norm averages
over the whole batch, whatever the device count. The explicit per-device forms (``shard_map``,
``pmap``) trace the step for one device's shard; they enter ``per_device_batch(axis_name)``
while tracing, and then

* ``Dropout`` draws the mask of the *global* batch from the same key and keeps its own rows
  (with JAX's partitionable threefry the bits of row ``i`` do not depend on how the batch is
  laid out), so masks are identical across device counts and mappings;
* ``batch_norm`` averages its statistics over the data axis (synchronised batch norm), so the
  statistics are those of the global batch in every mode.

The context is read only while tracing, to decide the program's structure; it is not a flag.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp

_DATA_AXIS: contextvars.ContextVar[str | None] = contextvars.ContextVar("dl_jax_data_axis",
                                                                        default=None)


@contextlib.contextmanager
def per_device_batch(axis_name: str | None) -> Iterator[None]:
    """While tracing a per-device step: layers see one shard of a batch split over ``axis_name``.

    ``None`` (one device, or the global-batch ``jit`` program) leaves layers as they are.
    """
    token = _DATA_AXIS.set(axis_name)
    try:
        yield
    finally:
        _DATA_AXIS.reset(token)


def data_axis() -> str | None:
    """The data axis of the per-device step being traced, or None."""
    return _DATA_AXIS.get()


class Dropout(nn.Module):
    """Inverted dropout (``flax.linen.Dropout``'s call and numbers) with global-batch masks.

    Attributes:
      rate: probability of zeroing a unit.
      deterministic: if True the layer is the identity (may also be passed at call time).
    """

    rate: float
    deterministic: bool | None = None

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool | None = None) -> jax.Array:
        """Drops units of ``x`` (leading axis = batch) with probability ``rate``."""
        deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
        if deterministic or self.rate == 0.0:
            return x
        if self.rate == 1.0:
            return jnp.zeros_like(x)
        keep_prob = 1.0 - self.rate
        key = self.make_rng("dropout")
        axis = data_axis()
        if axis is None:
            keep = jax.random.bernoulli(key, keep_prob, x.shape)
        else:
            local = x.shape[0]
            devices = jax.lax.psum(1, axis)
            full = jax.random.bernoulli(key, keep_prob, (local * devices,) + x.shape[1:])
            start = jax.lax.axis_index(axis) * local
            keep = jax.lax.dynamic_slice_in_dim(full, start, local, axis=0)
        return jax.lax.select(keep, x / keep_prob, jnp.zeros_like(x))


def batch_norm(*, train: bool, **kwargs) -> nn.BatchNorm:
    """``nn.BatchNorm`` with global-batch statistics in every data-parallel mode.

    Call inside a compact method; ``kwargs`` go to ``nn.BatchNorm`` (momentum, epsilon, name…).
    """
    return nn.BatchNorm(use_running_average=not train, axis_name=data_axis() if train else None,
                        **kwargs)
