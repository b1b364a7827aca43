#!/usr/bin/env bash
# The GPU checks of issues 3 and 4 as one short device session (~5 minutes on an H100):
# ResNet-18 bf16/fp32 vs torchvision and the LSTM vs cuDNN at the two shapes.
# Needs only jax, flax, optax, numpy and (for the peers) torch/torchvision; run from the
# repository root, e.g. through the device tool: `bash benchmarks/gpu.sh`. Logs go to $OUT
# (or ./gpu_logs) so they survive a timeout of a later step.
set -u
OUT=${OUT:-gpu_logs}
mkdir -p "$OUT"
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# JAX would otherwise reserve 75 % of GPU memory, leaving PyTorch too little in the same process.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import jax, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__, jax.devices())"
} 2>&1 | tee "$OUT/gpu_env.txt"
timeout 300 python3 -m benchmarks.resnet18_gpu 2>&1 | tee "$OUT/resnet18_gpu.txt"
timeout 240 python3 -m benchmarks.lstm_gpu 2>&1 | tee "$OUT/lstm_gpu.txt"
