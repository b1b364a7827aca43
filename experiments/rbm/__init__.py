"""RBM features vs raw pixels on digits (scikit-learn's BernoulliRBM example, with dl_jax.rbm)."""
