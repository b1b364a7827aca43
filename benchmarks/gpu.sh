#!/usr/bin/env bash
# The GPU checks of issues 3, 4 and 13 as one short device session (~5 minutes on an H100):
# ResNet-18 bf16/fp32 vs torchvision, the LSTM vs cuDNN at the two shapes, and the NMT
# attention model's training tokens/s vs an nn.LSTM (cuDNN) peer of the same size.
# Needs only jax, flax, optax, numpy and (for the peers) torch/torchvision; run from the
# repository root, e.g. through the device tool: `bash benchmarks/gpu.sh`. Logs go to $OUT
# (or ./gpu_logs), with the results as benchmarks.json / benchmarks.md (`--smoke` as the first
# argument: tiny shapes, a check of the script itself).
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
# Both benchmarks in one process (their tables go to the log as before), then the rows as
# $OUT/benchmarks.json and $OUT/benchmarks.md, in the format of `python -m benchmarks.run`.
timeout 540 python3 -m benchmarks.run --gpu ${1:+"$1"} --out="$OUT" 2>&1 | tee "$OUT/gpu_benchmarks.txt"
