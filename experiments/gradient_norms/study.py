r"""Vanishing and exploding gradients, measured: vanilla tanh RNN vs LSTM over ``T`` steps.

The lecture's argument: with ``s_t = tanh(U x_t + W s_{t-1})`` and a loss ``E`` read out of the
final state ``s_{T-1}`` only, ``dE/ds_t = dE/ds_{T-1} prod_{j=t+1}^{T-1} ds_j/ds_{j-1}`` with
``ds_j/ds_{j-1} = diag(tanh'(a_j)) W``. Since ``|tanh'| <= 1``,

    ||dE/ds_t|| <= ||dE/ds_{T-1}|| sigma_max(W)^k,     k = T - 1 - t (the distance),

so ``sigma_max(W) < 1`` is *sufficient* for the gradient to vanish geometrically and
``sigma_max(W) > 1`` is *necessary* (not sufficient) for it to explode (Pascanu, Mikolov & Bengio,
2013, with ``gamma = 1`` for tanh). For the LSTM the cell path gives
``dc_t/dc_{t-1} ~ diag(f_t)`` (the lecture's approximation), so the per-step rate follows the
forget gate: a large forget-gate bias (``f ~ 1``) keeps the gradient alive, a negative one kills it.

``run`` measures, per setting and per sequence, in float64 and as log10 (so vanished gradients
read e.g. ``-60`` rather than ``0``):

* ``state``: ``log10 ||dE/ds_t||`` (``dl_jax.gradients.state_grad_norms``; for the LSTM the carry
  is ``(c, h)``),
* ``jacobian``: ``log10 ||ds_{T-1}/ds_t||_2`` (``jacobian_product_norms``, spectral norm),
* ``weight``: ``log10`` of the norm of step ``t``'s term of ``dE/dW``
  (``weight_grad_contributions``; the recurrent matrix for the RNN, all cell weights for the
  LSTM),

all indexed by distance ``k = T - 1 - t``, and fits the per-step rate (slope of ``log10`` norm vs
``k``). Each model type's analysis is one jitted function of its parameters (``rnn_log_norms``,
``lstm_log_norms``), compiled once for the whole sweep. The outputs: ``grad_norms.npz``,
``rnn_spectral_sweep.png``, ``lstm_forget_bias_sweep.png``, ``rnn_vs_lstm.png``,
``metrics.jsonl`` (one record per setting) and ``summary.json``.
"""

from __future__ import annotations

import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from dl_jax.errors import UserError
from dl_jax.gradients import (
    MATRIX_KINDS,
    bound_margin,
    by_distance,
    fit_rate,
    jacobian_product_norms,
    matrix_spectrum,
    rnn_step,
    scaled_recurrent_matrix,
    state_grad_norms,
    weight_grad_contributions,
)
from dl_jax.models.recurrent import LSTMCell
from dl_jax.training import writers

Array = jax.Array

# A norm that fell by more than this many decades over the sequence has vanished; one whose
# per-step rate is within this many decades per step of zero is "alive".
VANISHED_DECADES = 10.0
ALIVE_RATE = 0.01
# Slack of the numerical bound check, in decades (float64 rounding of 200 products).
BOUND_TOLERANCE = 1e-9


# ---------------------------------------------------------------------------------------------
# Per-sequence gradient norms (float64, log10), one compiled program per model type.
# ---------------------------------------------------------------------------------------------


def _final_readout(readout: Array, hidden_of_carry):
    def loss(carries):
        return hidden_of_carry(carries)[-1] @ readout

    return loss


@jax.jit
def rnn_log_norms(params: dict, xs: Array) -> dict[str, Array]:
    """log10 gradient norms of the vanilla RNN for a batch of sequences, loss ``v . s_{T-1}``.

    Args:
      params: ``{'U': (h, d), 'W': (h, h), 'v': (h,)}`` (float64 for vanished values).
      xs: inputs ``(batch, T, d)``.

    Returns:
      ``{'state', 'jacobian', 'weight'}``, each ``(batch, T)`` indexed by time ``t`` (entry
      ``weight[:, 0]`` is ``-inf``: ``s_{-1} = 0`` makes the first step's ``dE/dW`` term zero).
    """
    loss = _final_readout(params["v"], lambda states: states)

    def cell(state, x_t):
        return rnn_step(params, state, x_t)

    def step_with_w(weights, state, x_t):
        return rnn_step({"U": params["U"], "W": weights["W"]}, state, x_t)

    def one(x):
        s0 = jnp.zeros(params["W"].shape[0], x.dtype)
        return {
            "state": state_grad_norms(cell, s0, x, loss, log_scale=True),
            "jacobian": jacobian_product_norms(cell, s0, x, log_scale=True, ord=2),
            "weight": weight_grad_contributions(step_with_w, {"W": params["W"]}, s0, x, loss,
                                                log_scale=True),
        }

    return jax.vmap(one)(xs)


@jax.jit
def lstm_log_norms(params: dict, readout: Array, xs: Array) -> dict[str, Array]:
    """log10 gradient norms of an ``LSTMCell`` for a batch of sequences, loss ``v . h_{T-1}``.

    Args:
      params: the cell's ``params`` collection.
      readout: ``v``, ``(h,)``.
      xs: inputs ``(batch, T, d)``.

    Returns:
      ``{'state', 'jacobian', 'weight', 'log10_forget'}``: the first three ``(batch, T)`` as in
      ``rnn_log_norms`` (the state is the carry ``(c, h)``, the weights all cell parameters);
      ``log10_forget`` is the mean over units of ``log10 f_t``, ``(batch, T)``.
    """
    features = readout.shape[0]
    module = LSTMCell(features)
    loss = _final_readout(readout, lambda carries: carries[1])

    def step_fn(p, carry, x_t):
        return module.apply({"params": p}, carry, x_t)[0]

    def cell(carry, x_t):
        return step_fn(params, carry, x_t)

    def one(x):
        zeros = jnp.zeros(features, x.dtype)
        carry0 = (zeros, zeros)
        def scan_step(carry, x_t):
            carry = cell(carry, x_t)
            return carry, carry

        _, carries = jax.lax.scan(scan_step, carry0, x)
        h_prev = jnp.concatenate([zeros[None], carries[1][:-1]], axis=0)
        forget = params["forget"]
        f_pre = jnp.concatenate([h_prev, x], axis=-1) @ forget["kernel"] + forget["bias"]
        return {
            "state": state_grad_norms(cell, carry0, x, loss, log_scale=True),
            "jacobian": jacobian_product_norms(cell, carry0, x, log_scale=True, ord=2),
            "weight": weight_grad_contributions(step_fn, params, carry0, x, loss, log_scale=True),
            "log10_forget": jnp.mean(jax.nn.log_sigmoid(f_pre), axis=-1) / math.log(10.0),
        }

    return jax.vmap(one)(xs)


def _mean_log(values: np.ndarray) -> np.ndarray:
    """Mean over sequences of log10 norms (a geometric mean of the norms)."""
    return np.mean(np.asarray(values, np.float64), axis=0)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _describe(norms: dict[str, np.ndarray]) -> dict:
    """Rates and end points of one setting's ``(batch, T)`` distance-ordered log10 norms."""
    length = norms["state"].shape[-1]
    state_mean = _mean_log(norms["state"])
    rate, _ = fit_rate(norms["state"])
    return {
        "rate_state": rate,
        "rate_jacobian": fit_rate(norms["jacobian"])[0],
        "rate_weight": fit_rate(norms["weight"])[0],
        "log10_norm_at_0": float(state_mean[0]),
        "log10_norm_at_T-1": float(state_mean[-1]),
        "log10_norm_at_T-1_max": float(np.max(norms["state"][:, -1])),
        "log10_jacobian_at_T-1": float(_mean_log(norms["jacobian"])[-1]),
        # The first step's dE/dW term is exactly zero (s_{-1} = 0): report distance T-2.
        "log10_weight_term_at_T-2": _finite(_mean_log(norms["weight"])[length - 2]),
        "decades_lost": float(state_mean[0] - state_mean[-1]),
    }


# ---------------------------------------------------------------------------------------------
# The sweeps.
# ---------------------------------------------------------------------------------------------


def _validate(config) -> None:
    if config.seq_len < 3:
        raise UserError(f"config.seq_len must be at least 3, got {config.seq_len}")
    if min(config.sigma_values) <= 0:
        raise UserError("config.sigma_values must be positive")
    unknown = sorted(set(config.matrix_kinds) - set(MATRIX_KINDS))
    if unknown:
        raise UserError(f"unknown matrix kind {unknown[0]!r}: choose from {MATRIX_KINDS}")
    if config.compare_kind not in config.matrix_kinds or \
            config.compare_sigma not in config.sigma_values:
        raise UserError("config.compare_sigma/compare_kind must be one of the swept settings")
    if not set(config.compare_biases) <= set(config.forget_biases):
        raise UserError("config.compare_biases must be among config.forget_biases")


def _rnn_sweep(config, key_w, u, readout, xs) -> tuple[list[dict], dict[str, np.ndarray]]:
    records, arrays = [], {}
    for kind_index, kind in enumerate(config.matrix_kinds):
        # One base matrix per kind, rescaled for every sigma: the sweep changes the scale only.
        base = scaled_recurrent_matrix(jax.random.fold_in(key_w, kind_index),
                                       config.hidden_size, 1.0, kind)
        for sigma in config.sigma_values:
            w = base * sigma
            params = {"U": jnp.asarray(u), "W": jnp.asarray(w), "v": jnp.asarray(readout)}
            raw = jax.device_get(rnn_log_norms(params, xs))
            norms = {k: by_distance(v) for k, v in raw.items()}
            spectrum = matrix_spectrum(w)
            record = {"model": "rnn", "kind": kind, "sigma_target": float(sigma), **spectrum,
                      **_describe(norms)}
            log_sigma = math.log10(spectrum["sigma_max"])
            record["bound_rate"] = log_sigma
            # Asymptotically ||W^k||^(1/k) -> spectral radius: the rate of a weakly driven net.
            record["radius_rate"] = math.log10(spectrum["spectral_radius"])
            record["bound_margin_state"] = bound_margin(norms["state"], spectrum["sigma_max"])
            record["bound_margin_jacobian"] = bound_margin(norms["jacobian"],
                                                           spectrum["sigma_max"])
            record["bound_holds"] = bool(max(record["bound_margin_state"],
                                             record["bound_margin_jacobian"]) <= BOUND_TOLERANCE)
            record["vanishes"] = bool(record["decades_lost"] > VANISHED_DECADES)
            record["explodes"] = bool(record["rate_state"] > 0
                                      and record["log10_norm_at_T-1"] > record["log10_norm_at_0"])
            records.append(record)
            for name, value in norms.items():
                arrays[f"rnn_{kind}_sigma{sigma:g}_{name}"] = value
    return records, arrays


def _lstm_sweep(config, key_lstm, readout, xs) -> tuple[list[dict], dict[str, np.ndarray]]:
    cell = LSTMCell(config.hidden_size)
    zeros = jnp.zeros(config.hidden_size)
    base = jax.jit(cell.init)(key_lstm, (zeros, zeros), xs[0, 0])["params"]
    records, arrays = [], {}
    for bias in config.forget_biases:
        params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), base)
        params["forget"]["bias"] = jnp.full(config.hidden_size, bias, jnp.float64)
        raw = jax.device_get(lstm_log_norms(params, jnp.asarray(readout), xs))
        forget = np.asarray(raw.pop("log10_forget"))
        norms = {k: by_distance(v) for k, v in raw.items()}
        record = {"model": "lstm", "forget_bias": float(bias), **_describe(norms),
                  "mean_forget_gate": float(np.mean(10.0 ** forget)),
                  # The lecture's approximation dc_t/dc_{t-1} ~ diag(f_t): rate ~ E[log10 f].
                  "forget_gate_rate": float(np.mean(forget))}
        record["vanishes"] = bool(record["decades_lost"] > VANISHED_DECADES)
        record["alive"] = bool(abs(record["rate_state"]) < ALIVE_RATE)
        records.append(record)
        for name, value in norms.items():
            arrays[f"lstm_bias{bias:g}_{name}"] = value
    return records, arrays


def pascanu_checks(rnn_records: list[dict], lstm_records: list[dict]) -> dict:
    """The lecture's / Pascanu et al.'s claims as booleans over the measured settings.

    Returns:
      ``bound_holds_everywhere`` (``||dE/ds_t|| <= sigma_max^k`` and ``||ds_{T-1}/ds_t||_2 <=
      sigma_max^k`` at every distance, sequence and setting), ``contracting_all_vanish`` (every
      ``sigma_max < 1`` decays by more than ``VANISHED_DECADES``), ``no_explosion_below_one``,
      ``exploding_sigmas`` / ``non_exploding_sigmas_above_one`` (the condition ``sigma_max > 1``
      is necessary, not sufficient), and for the LSTM ``large_bias_alive`` (largest bias: per-step
      rate within ``ALIVE_RATE`` of 0), ``negative_bias_vanishes`` and ``rate_increases_with_bias``.
    """
    # Classified by the requested value: the measured sigma_max of 1.0 may read 1 + 1e-16.
    contracting = [r for r in rnn_records if r["sigma_target"] < 1.0]
    expanding = [r for r in rnn_records if r["sigma_target"] > 1.0]
    checks = {
        "bound_holds_everywhere": all(r["bound_holds"] for r in rnn_records),
        "max_bound_margin_decades": max(max(r["bound_margin_state"], r["bound_margin_jacobian"])
                                        for r in rnn_records),
        "contracting_all_vanish": all(r["vanishes"] for r in contracting),
        "no_explosion_below_one": not any(r["explodes"] for r in rnn_records
                                          if r["sigma_target"] <= 1.0),
        "exploding_settings": [f"{r['kind']} sigma_max={r['sigma_target']:g}"
                               for r in expanding if r["explodes"]],
        "non_exploding_settings_above_one": [f"{r['kind']} sigma_max={r['sigma_target']:g}"
                                             for r in expanding if not r["explodes"]],
    }
    if lstm_records:
        ordered = sorted(lstm_records, key=lambda r: r["forget_bias"])
        negative = [r for r in ordered if r["forget_bias"] < 0]
        checks["lstm_large_bias_alive"] = ordered[-1]["alive"]
        checks["lstm_negative_bias_vanishes"] = bool(negative) and all(r["vanishes"]
                                                                       for r in negative)
        rates = [r["rate_state"] for r in ordered]
        checks["lstm_rate_increases_with_bias"] = all(a < b for a, b in zip(rates, rates[1:],
                                                                             strict=False))
    return checks


# ---------------------------------------------------------------------------------------------
# Figures (matplotlib, through experiments.common.plots).
# ---------------------------------------------------------------------------------------------


def _colors(name: str, stop: float, count: int):
    import matplotlib

    return matplotlib.colormaps[name](np.linspace(0.0, stop, count))


def _plot_rnn_sweep(path: str, config, rnn_records, arrays) -> None:
    from matplotlib.figure import Figure

    from experiments.common.plots import save_figure

    distance = np.arange(config.seq_len)
    kinds = list(config.matrix_kinds)
    fig = Figure(figsize=(6.5 * len(kinds), 4.8))
    axes = fig.subplots(1, len(kinds), squeeze=False)
    colors = _colors("viridis", 0.9, len(config.sigma_values))
    for ax, kind in zip(axes[0], kinds, strict=True):
        for color, sigma in zip(colors, config.sigma_values, strict=True):
            record = next(r for r in rnn_records if r["kind"] == kind
                          and r["sigma_target"] == sigma)
            ax.plot(distance, _mean_log(arrays[f"rnn_{kind}_sigma{sigma:g}_state"]), color=color,
                    label=f"σmax={sigma:g} (ρ={record['spectral_radius']:.2f}, "
                          f"{record['rate_state']:+.3f}/step)")
            ax.plot(distance, distance * math.log10(record["sigma_max"]), color=color, ls=":",
                    lw=0.8)
        ax.set(title=f"tanh RNN, {kind} W (dotted: bound σmax^k)", xlabel="distance k = T-1-t",
               ylabel="log10 ||∂E/∂s_t|| (mean over sequences)")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], -80))
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _plot_forget_bias_sweep(path: str, config, lstm_records, arrays) -> None:
    from matplotlib.figure import Figure

    from experiments.common.plots import save_figure

    distance = np.arange(config.seq_len)
    fig = Figure(figsize=(7, 4.8))
    ax = fig.subplots()
    colors = _colors("plasma", 0.85, len(config.forget_biases))
    for color, record in zip(colors, lstm_records, strict=True):
        bias = record["forget_bias"]
        ax.plot(distance, _mean_log(arrays[f"lstm_bias{bias:g}_state"]), color=color,
                label=f"b_f={bias:g} (mean f={record['mean_forget_gate']:.3f}, "
                      f"{record['rate_state']:+.4f}/step)")
        ax.plot(distance, distance * record["forget_gate_rate"], color=color, ls=":", lw=0.8)
    ax.set(title="LSTM forget-gate bias (dotted: k · mean log10 f_t)",
           xlabel="distance k = T-1-t", ylabel="log10 ||∂E/∂(c_t, h_t)||")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _plot_rnn_vs_lstm(path: str, config, arrays) -> None:
    from matplotlib.figure import Figure

    from experiments.common.plots import save_figure

    distance = np.arange(config.seq_len)
    fig = Figure(figsize=(17, 4.8))
    axes = fig.subplots(1, 3)
    names = (("state", "log10 ||∂E/∂s_t||"), ("jacobian", "log10 ||∂s_{T-1}/∂s_t||₂"),
             ("weight", "log10 ||step-t term of ∂E/∂W||"))
    curves = [(f"RNN {config.compare_kind} σmax={config.compare_sigma:g}",
               f"rnn_{config.compare_kind}_sigma{config.compare_sigma:g}")]
    curves += [(f"LSTM b_f={b:g}", f"lstm_bias{b:g}") for b in config.compare_biases]
    for ax, (name, label) in zip(axes, names, strict=True):
        for curve_label, prefix in curves:
            values = _mean_log(arrays[f"{prefix}_{name}"])
            ax.plot(distance, np.where(np.isfinite(values), values, np.nan), label=curve_label)
        ax.set(xlabel="distance k = T-1-t", ylabel=label)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Vanilla RNN vs LSTM, loss at the final step of T={config.seq_len}")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


FIGURES = ("rnn_spectral_sweep.png", "lstm_forget_bias_sweep.png", "rnn_vs_lstm.png")


def _write_figures(workdir: str, config, rnn_records, lstm_records, arrays) -> list[str]:
    paths = [os.path.join(workdir, name) for name in FIGURES]
    _plot_rnn_sweep(paths[0], config, rnn_records, arrays)
    _plot_forget_bias_sweep(paths[1], config, lstm_records, arrays)
    _plot_rnn_vs_lstm(paths[2], config, arrays)
    return paths


# ---------------------------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------------------------


def _measure(config) -> tuple[list[dict], list[dict], dict[str, np.ndarray]]:
    """Both sweeps in float64 (64-bit JAX enabled for this block only)."""
    with jax.enable_x64(True):
        key = jax.random.key(config.seed)
        key_x, key_u, key_v, key_w, key_lstm = (jax.random.fold_in(key, i) for i in range(5))
        h, d = config.hidden_size, config.input_size
        xs = jax.random.normal(key_x, (config.num_sequences, config.seq_len, d), jnp.float64)
        u = config.input_scale * jax.random.normal(key_u, (h, d), jnp.float64) / math.sqrt(d)
        readout = jax.random.normal(key_v, (h,), jnp.float64)
        readout = readout / jnp.linalg.norm(readout)
        rnn_records, arrays = _rnn_sweep(config, key_w, u, readout, xs)
        lstm_records, lstm_arrays = _lstm_sweep(config, key_lstm, readout, xs)
    arrays.update(lstm_arrays)
    arrays["distance"] = np.arange(config.seq_len)
    return rnn_records, lstm_records, arrays


def run(config, workdir: str) -> dict:
    """Sweeps the RNN's ``sigma_max(W)`` and the LSTM's forget-gate bias; writes all outputs.

    Everything runs in float64 (enabled for the duration of the measurement only). The same
    inputs ``x`` (``num_sequences`` sequences of length ``seq_len``), input matrix ``U`` and
    readout ``v`` (unit norm, so ``||dE/ds_{T-1}|| = 1`` for the RNN) are shared by every setting.

    Args:
      config: the fields of ``experiments/gradient_norms/config.py``.
      workdir: output directory (created); a workdir holding another config is refused.

    Returns:
      The summary (also written to ``workdir/summary.json``).

    Raises:
      UserError: invalid config or a workdir of another config.
    """
    start = time.perf_counter()
    _validate(config)
    os.makedirs(workdir, exist_ok=True)
    writers.claim_workdir(workdir, config, resume_free=frozenset())
    rnn_records, lstm_records, arrays = _measure(config)
    np.savez_compressed(os.path.join(workdir, "grad_norms.npz"), **arrays)
    writers.write_jsonl(os.path.join(workdir, "metrics.jsonl"),
                        [{"step": index, **record}
                         for index, record in enumerate(rnn_records + lstm_records)])
    figures = _write_figures(workdir, config, rnn_records, lstm_records, arrays)
    summary = {
        "seq_len": config.seq_len,
        "hidden_size": config.hidden_size,
        "num_sequences": config.num_sequences,
        "seed": config.seed,
        "pascanu": pascanu_checks(rnn_records, lstm_records),
        "rnn": rnn_records,
        "lstm": lstm_records,
        "figures": [os.path.basename(p) for p in figures],
        "wall_time_s": time.perf_counter() - start,
    }
    writers.write_json(os.path.join(workdir, "summary.json"), summary)
    return summary
