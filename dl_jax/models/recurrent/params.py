"""Parameter maps from a reference cell (``cells.py``) onto one fast layer (``layers.py``).

The fast layers fuse the gates of a cell into one input and one recurrent matrix; these maps say
which slice of the fused matrices is which of the lecture's matrices.
"""

from __future__ import annotations

import jax.numpy as jnp


def fused_rnn_params(cell_params: dict) -> dict:
    """Maps ``SimpleRNNCell`` parameters onto one ``SimpleRNN`` layer (``layer_0``).

    The two share the same tree (``U`` and ``W`` Dense layers), so this is the identity; it
    exists so the three cell types are handled alike.
    """
    return {"U": dict(cell_params["U"]), "W": dict(cell_params["W"])}


def fused_lstm_params(cell_params: dict) -> dict:
    """Maps ``LSTMCell`` parameters onto one ``LSTM`` layer.

    The fused layer's gate order along its ``4h`` axis is ``(f, i, o, c~)``: the three sigmoid
    gates are contiguous, so one sigmoid covers them.

    Args:
      cell_params: the cell's ``params`` collection (not wrapped in ``{'params': ...}``).

    Returns:
      ``{'input_kernel': (in, 4h), 'recurrent_kernel': (h, 4h), 'bias': (4h,)}`` plus
      ``'peephole': (3, h)`` (rows f, i, o) for a peephole cell.
    """
    features = cell_params["forget"]["bias"].shape[0]
    gates = ("forget", "input", "output", "candidate")
    kernels = [cell_params[g]["kernel"] for g in gates]
    fused = {
        "input_kernel": jnp.concatenate([k[features:] for k in kernels], axis=1),
        "recurrent_kernel": jnp.concatenate([k[:features] for k in kernels], axis=1),
        "bias": jnp.concatenate([cell_params[g]["bias"] for g in gates]),
    }
    if "peephole_forget" in cell_params:
        fused["peephole"] = jnp.stack(
            [cell_params[f"peephole_{g}"] for g in ("forget", "input", "output")])
    return fused


def fused_gru_params(cell_params: dict) -> dict:
    """Maps ``GRUCell`` parameters onto one ``GRU`` layer (gate order ``r, z, n``).

    Returns:
      ``{'input_kernel': (in, 3h), 'bias': (3h,), 'recurrent_kernel': (h, 3h)}``.
    """
    gates = ("reset", "update", "candidate")
    return {
        "input_kernel": jnp.concatenate([cell_params[f"input_{g}"]["kernel"] for g in gates], 1),
        "bias": jnp.concatenate([cell_params[f"input_{g}"]["bias"] for g in gates]),
        "recurrent_kernel": jnp.concatenate(
            [cell_params[f"hidden_{g}"]["kernel"] for g in gates], 1),
    }


__all__ = ["fused_gru_params", "fused_lstm_params", "fused_rnn_params"]
