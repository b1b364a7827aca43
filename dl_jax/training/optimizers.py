"""Optimizers and learning-rate schedules chosen by name in the config (optax)."""

from __future__ import annotations

import optax

from dl_jax.errors import UserError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "piecewise")


def make_schedule(config) -> optax.Schedule:
    """Learning-rate schedule from ``config.schedule`` and friends."""
    lr, steps = config.learning_rate, config.num_steps
    if config.warmup_steps and config.warmup_steps >= steps:
        raise UserError(f"config.warmup_steps ({config.warmup_steps}) must be below num_steps "
                        f"({steps})")
    if config.schedule == "constant":
        return optax.constant_schedule(lr)
    if config.schedule == "cosine":
        return optax.cosine_decay_schedule(lr, decay_steps=steps)
    if config.schedule == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            0.0, lr, warmup_steps=config.warmup_steps, decay_steps=steps
        )
    if config.schedule == "piecewise":
        return _piecewise(config)
    raise UserError(f"unknown schedule {config.schedule!r}: choose one of {', '.join(SCHEDULES)}")


def _piecewise(config) -> optax.Schedule:
    """He et al. (2016): multiply by ``schedule_factor`` at each boundary, after a 0.1x warm-up.

    Boundaries count training steps from step 0, warm-up included (a boundary of 250 with a
    300-step warm-up takes effect when the warm-up ends, at step 300).
    """
    lr, warmup = config.learning_rate, int(config.warmup_steps)
    boundaries = sorted(int(b) for b in config.schedule_boundaries)
    if any(b <= 0 or b >= config.num_steps for b in boundaries):
        raise UserError(f"config.schedule_boundaries {tuple(boundaries)} must lie in "
                        f"(0, num_steps={config.num_steps})")
    factor = float(config.schedule_factor)
    # join_schedules restarts the second schedule's count at the warm-up's end: shift by it.
    scales: dict[int, float] = {}
    for b in boundaries:
        scales[max(b - warmup, 0)] = scales.get(max(b - warmup, 0), 1.0) * factor
    decay = optax.piecewise_constant_schedule(lr, scales)
    if warmup:
        return optax.join_schedules([optax.constant_schedule(lr * 0.1), decay], [warmup])
    return decay


def make_optimizer(config) -> optax.GradientTransformation:
    """Optax optimizer from ``config.optimizer``; weight decay is L2 (coupled) except adamw."""
    schedule = make_schedule(config)
    name, wd = config.optimizer, config.weight_decay
    if name == "adamw":
        tx = optax.adamw(schedule, weight_decay=wd)
    elif name in ("sgd", "momentum", "nesterov", "adam", "rmsprop"):
        if name == "sgd":
            core = optax.sgd(schedule)
        elif name in ("momentum", "nesterov"):
            core = optax.sgd(schedule, momentum=config.momentum, nesterov=name == "nesterov")
        elif name == "adam":
            core = optax.adam(schedule)
        else:
            core = optax.rmsprop(schedule, momentum=config.momentum)
        tx = optax.chain(optax.add_decayed_weights(wd), core) if wd else core
    else:
        raise UserError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    if config.grad_clip_norm:
        tx = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
    return tx
