"""Bernoulli–Bernoulli restricted Boltzmann machine as pure functions over a params pytree.

The model has binary visible units ``v`` (n_visible) and binary hidden units ``h`` (n_hidden),
parameters ``{'W': (n_visible, n_hidden), 'b_v': (n_visible,), 'b_h': (n_hidden,)}`` and

    E(v, h) = -b_vᵀv - b_hᵀh - vᵀWh,            p(v, h) = exp(-E(v, h)) / Z,
    F(v)    = -log Σ_h exp(-E(v, h)) = -b_vᵀv - Σ_j softplus(b_h_j + (vᵀW)_j),
    p(h_j = 1 | v) = σ(b_h_j + (vᵀW)_j),        p(v_i = 1 | h) = σ(b_v_i + (W h)_i).

Training follows Hinton's "A Practical Guide to Training Restricted Boltzmann Machines" (2010):
contrastive divergence CD-k (Hinton 2002) or persistent CD (PCD, Tieleman 2008) with momentum
and L2 weight decay on ``W``; hidden statistics use probabilities, the negative-phase visible
states are binary samples (so the persistent chain is a proper Markov chain). One epoch is a single
jit-compiled ``lax.scan`` over shuffled minibatches. Training samples with ``jax.random`` by
default; ``sampler="hash"`` swaps in a counter-based integer-hash stream (seeded from the key, so
still a pure function of it) that is ~10x cheaper than threefry on CPU, where sampling otherwise
costs about as much as the matmuls.

Gaussian–Bernoulli RBM: every function that depends on the visible units takes
``visible="gaussian"`` for real-valued data, with unit-variance Gaussian visible units

    E(v, h) = ½‖v − b_v‖² − b_hᵀh − vᵀWh,       p(v | h) = N(b_v + W h, I),
    F(v)    = ½‖v − b_v‖² − Σ_j softplus(b_h_j + (vᵀW)_j),

so the data should be standardised per unit (zero mean, unit variance) first, and learning rates
be 1–2 orders of magnitude smaller than for binary units (Hinton's guide, §13.2). Variances are
fixed at 1 rather than learned: learned σ make CD unstable (Cho, Ilin & Raiko 2011) and the
guide recommends standardising instead. The pseudo-log-likelihood is for binary units only.

Modules: ``model`` (parameters, energies, conditionals), ``sampling`` (threefry or hash randomness,
Feistel shuffle, Gibbs chains), ``training`` (CD-k / PCD-k updates, epochs, fit), ``evaluation``
and ``stacking`` (greedy layer-wise DBN pretraining, the up pass); this package re-exports their
public functions, so ``from dl_jax import rbm; rbm.cd_update(...)`` works.

Evaluation: reconstruction error, the exact (or one-unit stochastic) pseudo-log-likelihood,
log Z by annealed importance sampling (Salakhutdinov & Murray 2008) or, for small models, by exact
enumeration, and the average log-likelihood given log Z.

Functions accept a single vector or a batch (leading axes) for ``v``/``h`` unless stated
otherwise. Real values in [0, 1] are accepted as visible "probabilities" (e.g. greyscale digits).
"""

from dl_jax.rbm.evaluation import (
    ais_log_partition,
    exact_log_partition,
    log_likelihood,
    pseudo_log_likelihood,
    reconstruction_error,
)
from dl_jax.rbm.model import (
    VISIBLE_UNITS,
    Params,
    energy,
    free_energy,
    hidden_probs,
    init,
    visible_mean,
    visible_probs,
)
from dl_jax.rbm.sampling import (
    SAMPLERS,
    gibbs_sample,
    init_persistent_chain,
    sample_hidden,
    sample_visible,
)
from dl_jax.rbm.stacking import greedy_pretrain, up_pass
from dl_jax.rbm.training import DATA_AXIS, cd_update, fit, train_epoch

__all__ = [
    "DATA_AXIS",
    "SAMPLERS",
    "VISIBLE_UNITS",
    "Params",
    "ais_log_partition",
    "cd_update",
    "energy",
    "exact_log_partition",
    "fit",
    "free_energy",
    "gibbs_sample",
    "greedy_pretrain",
    "hidden_probs",
    "init",
    "init_persistent_chain",
    "log_likelihood",
    "pseudo_log_likelihood",
    "reconstruction_error",
    "sample_hidden",
    "sample_visible",
    "train_epoch",
    "up_pass",
    "visible_mean",
    "visible_probs",
]
