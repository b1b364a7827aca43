"""dl_jax: the lecture "Deep Learning an Introduction" as a JAX/Flax research codebase."""

__version__ = "0.1.0"
