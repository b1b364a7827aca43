"""Cost of the gradient-through-time API, and compile time of the scanned LSTM against T.

1. ``state_grad_norms`` on an LSTM (reference ``LSTMCell``, ``(c, h)`` carry) at T = 1000 against
   one ordinary ``jax.grad`` of the same loss with respect to the parameters (target: <= 3x).
   ``weight_grad_contributions`` and ``jacobian_product_norms`` are timed alongside.
2. Lowering + compile time of the jitted training step of the fast ``LSTM`` layer at T = 10, 20
   and 1000, for the backend's default unroll (``default_unroll``) and for ``unroll=16``
   (target: T=1000 / T=10 <= 1.5x; a full unroll would grow with T). With ``unroll=16`` a 10-step
   sequence is one trip, which JAX emits as straight-line code without a while loop, so T=20 is
   also shown: from there on the program (a while loop around 10 unrolled steps) no longer
   changes with T.

Run: ``python -m benchmarks.grad_norms [--rounds 7]``.
"""

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from dl_jax.gradients import jacobian_product_norms, state_grad_norms, weight_grad_contributions
from dl_jax.models.recurrent import LSTM, LSTMCell, ManyToOne, choose_unroll, default_unroll

BATCH, INPUTS, HIDDEN, CLASSES, LENGTH = 16, 16, 64, 10, 1000


def best_of(fn, rounds):
    """Best and median wall time (ms) of ``fn()`` after one warm-up call."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append((time.perf_counter() - start) * 1e3)
    return min(times), statistics.median(times)


def gradient_costs(rounds, length=LENGTH, extras=True):
    """Best and median ms of one ``jax.grad`` and of the analyses (``extras``: all three)."""
    keys = jax.random.split(jax.random.key(0), 4)
    xs = jax.random.normal(keys[0], (length, BATCH, INPUTS))
    labels = jax.random.randint(keys[1], (length, BATCH), 0, CLASSES)
    cell = LSTMCell(HIDDEN)
    carry0 = cell.initialize_carry(keys[2], (BATCH, INPUTS))
    params = jax.jit(cell.init)(keys[2], carry0, xs[0])["params"]
    readout = 0.1 * jax.random.normal(keys[3], (HIDDEN, CLASSES))

    def step_fn(p, carry, x):
        return cell.apply({"params": p}, carry, x)[0]

    def loss(carries):
        logits = carries[1] @ readout
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).sum()

    def loss_of_params(p):
        def body(carry, x):
            carry = step_fn(p, carry, x)
            return carry, carry

        return loss(jax.lax.scan(body, carry0, xs)[1])

    # dl_jax.gradients only traces: each analysis is jitted here, parameters as arguments.
    ordinary = jax.jit(jax.grad(loss_of_params))
    state_norms = jax.jit(lambda p: state_grad_norms(
        lambda c, x: step_fn(p, c, x), carry0, xs, loss))
    weight_terms = jax.jit(lambda p: weight_grad_contributions(step_fn, p, carry0, xs, loss))
    # ||ds_T/ds_t|| for one sequence: vmap over the 2 * HIDDEN components of the final (c, h).
    single = jax.tree.map(lambda c: c[0], carry0)
    jacobian_norms = jax.jit(lambda p: jacobian_product_norms(
        lambda c, x: step_fn(p, c, x), single, xs[:, 0]))
    rows = {
        "jax.grad(loss) w.r.t. params": best_of(lambda: ordinary(params), rounds),
        "state_grad_norms": best_of(lambda: state_norms(params), rounds),
    }
    if extras:
        rows["weight_grad_contributions"] = best_of(lambda: weight_terms(params), rounds)
        rows["jacobian_product_norms (1 seq)"] = best_of(lambda: jacobian_norms(params), rounds)
    return rows


def compile_seconds(length, unroll, rounds):
    """Best lowering + compile time of a fresh jitted SGD step of ManyToOne(LSTM) at ``length``."""
    model = ManyToOne(LSTM(HIDDEN, unroll=unroll), CLASSES)
    x = jnp.zeros((BATCH, length, INPUTS))
    y = jnp.zeros((BATCH,), jnp.int32)
    params = jax.eval_shape(model.init, jax.random.key(0), x)["params"]
    optimizer = optax.sgd(0.1)
    best = float("inf")
    for _ in range(rounds):
        def step(p, opt_state, x, y):
            def loss_fn(p):
                logits = model.apply({"params": p}, x)
                return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, opt_state = optimizer.update(grads, opt_state, p)
            return optax.apply_updates(p, updates), opt_state, loss

        opt_state = jax.eval_shape(optimizer.init, params)
        start = time.perf_counter()
        jax.jit(step).lower(params, opt_state, x, y).compile()
        best = min(best, time.perf_counter() - start)
    return best


def measure(rounds=7, length=LENGTH, compile_lengths=(10, LENGTH), compile_rounds=3) -> list:
    """The ``benchmarks.run`` rows: ``state_grad_norms`` vs one gradient; compile time vs T."""
    from benchmarks.common import comparison_row

    costs = gradient_costs(rounds, length, extras=False)
    grad, norms = costs["jax.grad(loss) w.r.t. params"], costs["state_grad_norms"]
    rows = [comparison_row(
        "state_grad_norms", f"LSTMCell B{BATCH} H{HIDDEN}, T={length}, best of {rounds}", "ms",
        "dl_jax.gradients.state_grad_norms", norms[0], "one jax.grad w.r.t. params", grad[0],
        higher_is_better=False, target="<= 3x the gradient (speed-up >= 0.33)",
        note=f"medians {norms[1]:.1f} vs {grad[1]:.1f} ms")]
    unroll = default_unroll(jax.default_backend())  # resolved here, outside any trace
    short, long = compile_lengths
    seconds = {t: compile_seconds(t, unroll, compile_rounds) for t in compile_lengths}
    rows.append(comparison_row(
        "LSTM compile time", f"jit(train step).lower().compile(), unroll={unroll}, "
        f"best of {compile_rounds}", "s", f"dl_jax LSTM step, T={long}", seconds[long],
        f"same step, T={short}", seconds[short], higher_is_better=False,
        target=f"T={long} <= 1.5x T={short} (speed-up >= 0.67)"))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} cores (load "
          f"average {os.getloadavg()[0]:.1f}); LSTM batch {BATCH}, in {INPUTS}, hidden {HIDDEN}, "
          f"T {LENGTH}")

    rows = gradient_costs(args.rounds)
    base = rows["jax.grad(loss) w.r.t. params"][0]
    print(f"\n{'computation at T=1000':<34}{'best ms':>10}{'median ms':>11}{'vs grad':>9}")
    for name, (best, median) in rows.items():
        print(f"{name:<34}{best:>10.1f}{median:>11.1f}{best / base:>8.2f}x")

    print(f"\n{'compile of LSTM train step (s)':<34}{'T=10':>8}{'T=20':>8}{'T=1000':>8}"
          f"{'1000/10':>9}{'1000/20':>9}")
    for unroll in (default_unroll(jax.default_backend()), 16):
        seconds = {length: compile_seconds(length, unroll, args.rounds)
                   for length in (10, 20, LENGTH)}
        used = "/".join(str(choose_unroll(length, unroll)) for length in seconds)
        label = f"unroll={unroll} (uses {used})"
        print(f"{label:<34}{seconds[10]:>8.2f}{seconds[20]:>8.2f}{seconds[LENGTH]:>8.2f}"
              f"{seconds[LENGTH] / seconds[10]:>8.2f}x{seconds[LENGTH] / seconds[20]:>8.2f}x")

if __name__ == "__main__":
    main()
