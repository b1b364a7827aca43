"""Parameter maps from a reference cell (``cells.py``) onto one fast layer (``layers.py``).

The fast layers fuse the gates of a cell into one input and one recurrent matrix; these maps say
which slice of the fused matrices is which of the lecture's matrices. ``gru_params_from_torch``
maps a ``torch.nn.GRU`` layer onto the ``reset_after=True`` (PyTorch/cuDNN/Keras) GRU.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


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
      ``{'input_kernel': (in, 3h), 'bias': (3h,), 'recurrent_kernel': (h, 3h)}``, plus
      ``'recurrent_bias': (h,)`` (``b_hn``) for a ``reset_after`` cell.
    """
    gates = ("reset", "update", "candidate")
    fused = {
        "input_kernel": jnp.concatenate([cell_params[f"input_{g}"]["kernel"] for g in gates], 1),
        "bias": jnp.concatenate([cell_params[f"input_{g}"]["bias"] for g in gates]),
        "recurrent_kernel": jnp.concatenate(
            [cell_params[f"hidden_{g}"]["kernel"] for g in gates], 1),
    }
    if "bias" in cell_params["hidden_candidate"]:
        fused["recurrent_bias"] = cell_params["hidden_candidate"]["bias"]
    return fused


def gru_params_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> dict:
    """``GRUCell(reset_after=True)`` parameters computing one layer of a ``torch.nn.GRU``.

    Torch stacks the gates ``(r, z, n)`` along the first axis and stores ``(out, in)`` matrices;
    Flax kernels are ``(in, out)``. Torch has an input and a recurrent bias for every gate; the
    recurrent biases of ``r`` and ``z`` only add to the input ones, so they are summed into
    ``input_reset``/``input_update``, while ``b_hn`` (scaled by ``r_t``) becomes the bias of
    ``hidden_candidate``:

    ==================  =====================================  ===========================
    Flax (cell)         kernel                                 bias
    ==================  =====================================  ===========================
    input_reset         ``weight_ih[0:h].T``                   ``bias_ih[0:h] + bias_hh[0:h]``
    input_update        ``weight_ih[h:2h].T``                  ``bias_ih[h:2h] + bias_hh[h:2h]``
    input_candidate     ``weight_ih[2h:3h].T``                 ``bias_ih[2h:3h]``
    hidden_reset        ``weight_hh[0:h].T``                   (none)
    hidden_update       ``weight_hh[h:2h].T``                  (none)
    hidden_candidate    ``weight_hh[2h:3h].T``                 ``bias_hh[2h:3h]``
    ==================  =====================================  ===========================

    Args:
      weight_ih: torch's ``weight_ih_l{k}``, ``(3h, in)``, as an array
        (``gru.weight_ih_l0.detach().numpy()``).
      weight_hh: ``weight_hh_l{k}``, ``(3h, h)``.
      bias_ih: ``bias_ih_l{k}``, ``(3h,)``; None for a ``bias=False`` GRU.
      bias_hh: ``bias_hh_l{k}``, ``(3h,)``; None for a ``bias=False`` GRU.

    Returns:
      The cell's ``params`` collection; ``fused_gru_params`` of it (or
      ``gru_layer_params_from_torch``) is one ``GRU(reset_after=True)`` layer's.
    """
    w_ih, w_hh = jnp.asarray(np.asarray(weight_ih)), jnp.asarray(np.asarray(weight_hh))
    features = w_hh.shape[1]
    zeros = jnp.zeros((3 * features,), w_ih.dtype)
    b_ih = zeros if bias_ih is None else jnp.asarray(np.asarray(bias_ih))
    b_hh = zeros if bias_hh is None else jnp.asarray(np.asarray(bias_hh))
    params = {}
    for index, gate in enumerate(("reset", "update", "candidate")):
        rows = slice(index * features, (index + 1) * features)
        input_bias = b_ih[rows] if gate == "candidate" else b_ih[rows] + b_hh[rows]
        params[f"input_{gate}"] = {"kernel": w_ih[rows].T, "bias": input_bias}
        params[f"hidden_{gate}"] = {"kernel": w_hh[rows].T}
    params["hidden_candidate"]["bias"] = b_hh[2 * features:]
    return params


def gru_layer_params_from_torch(weight_ih, weight_hh, bias_ih=None, bias_hh=None) -> dict:
    """One ``GRU(reset_after=True)`` layer's parameters (``layer_k``) from torch's ``l{k}``.

    ``{'input_kernel': weight_ih.T, 'bias': [b_ir + b_hr, b_iz + b_hz, b_in],
    'recurrent_kernel': weight_hh.T, 'recurrent_bias': b_hn}``; see ``gru_params_from_torch``.
    """
    return fused_gru_params(gru_params_from_torch(weight_ih, weight_hh, bias_ih, bias_hh))


__all__ = ["fused_gru_params", "fused_lstm_params", "fused_rnn_params",
           "gru_layer_params_from_torch", "gru_params_from_torch"]
