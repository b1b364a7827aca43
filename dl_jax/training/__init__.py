"""Training: the trainer, pure steps, optimizers, data parallelism, checkpoints, run outputs."""
