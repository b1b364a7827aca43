"""ResNet-18 training throughput on one GPU: dl_jax (Flax) vs torchvision, in the same process.

The target of issue 3: at 224x224, batch 128, dl_jax's ResNet-18 trains at >= 1.3x
torchvision's images/s in bfloat16 and >= 1.0x in float32, measured in the same run.

One step = forward in train mode (batch statistics), softmax cross-entropy over 1000 classes,
backward, SGD with momentum 0.9 (lr 0.1) on random images and labels held on the GPU.

Precisions, each framework in its usual form:

* ``bf16``: dl_jax ``ResNet18(dtype=jnp.bfloat16)`` (bf16 convolutions and activations, float32
  parameters, batch-norm statistics and logits); PyTorch ``torch.autocast("cuda", bfloat16)``
  over float32 parameters (batch norm runs in float32 there).
* ``fp32``: both frameworks' defaults, which on Ampere/Hopper let convolutions use TF32 tensor
  cores (XLA's default precision; ``torch.backends.cudnn.allow_tf32`` is True by default).
  ``--fp32-precision=highest`` sets ``jax_default_matmul_precision`` to "highest" and turns off
  TF32 in PyTorch for strict float32 on both sides.

PyTorch runs eagerly in channels-last memory format (its fast layout for convolutions on tensor
cores), with cuDNN benchmark mode on; ``--torch-compile`` adds a ``torch.compile`` row. The
model is torchvision's ``resnet18`` when torchvision is installed, otherwise the identical
architecture defined below (parameter count checked: 11,689,512).

Timing: after warm-up, rounds of ``--steps`` steps alternate between the variants so that any
clock or thermal drift hits all of them; images/s of the best and the median round are printed.

Run (GPU): ``python -m benchmarks.resnet18_gpu``; ``--smoke`` runs a tiny configuration (batch 2,
32x32, one round) on any backend, which is what the test suite does on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.common import interleaved_seconds, jax_step_runner, use_strict_float32
from dl_jax.models.cnn import ResNet18

LEARNING_RATE = 0.1
MOMENTUM = 0.9
NUM_CLASSES = 1000
TORCHVISION_RESNET18_PARAMS = 11_689_512


def jax_runner(dtype, images: np.ndarray, labels: np.ndarray) -> Callable[[int], float]:
    """Returns ``run(n) -> last loss`` that performs ``n`` jitted dl_jax training steps."""
    model = ResNet18(num_classes=NUM_CLASSES, dtype=dtype)
    x, y = jnp.asarray(images), jnp.asarray(labels)
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(x)
    optimizer = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)
    params = variables["params"]
    state = (params, variables["batch_stats"], optimizer.init(params))

    def train_step(state, x, y):
        params, batch_stats, opt_state = state

        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": batch_stats}, x, train=True,
                mutable=["batch_stats"],
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            return loss, updates["batch_stats"]

        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), batch_stats, opt_state), loss

    return jax_step_runner(train_step, state, x, y)


def _torch_resnet18(torch):
    """The architecture of torchvision's ResNet-18 (used when torchvision is missing)."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    layers = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    channels = 64
    for stage, width in enumerate((64, 128, 256, 512)):
        for index in range(2):
            layers.append(Block(channels, width, 2 if stage > 0 and index == 0 else 1))
            channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, NUM_CLASSES)]
    return nn.Sequential(*layers)


def torch_runner(
    precision: str, images: np.ndarray, labels: np.ndarray, *, compile_model: bool = False
):
    """Returns ``(run, description)`` for the PyTorch step, or None without torch or CUDA."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    try:
        import torchvision

        model, source = torchvision.models.resnet18(), f"torchvision {torchvision.__version__}"
    except ImportError:
        model, source = _torch_resnet18(torch), "local copy of torchvision's resnet18"
    count = sum(p.numel() for p in model.parameters())
    if count != TORCHVISION_RESNET18_PARAMS:
        raise RuntimeError(f"torch ResNet-18 has {count} parameters, expected 11,689,512")
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda")
    model = model.to(device).to(memory_format=torch.channels_last).train()
    if compile_model:
        model = torch.compile(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)
    x = x.to(memory_format=torch.channels_last)
    y = torch.from_numpy(labels).long().to(device)
    use_bf16 = precision == "bf16"

    def run(n: int) -> float:
        loss = None
        for _ in range(n):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize()
        return float(loss)

    return run, f"torch {torch.__version__}, {source}"


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Runs the benchmark; returns images/s (best and median) per variant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=224, help="image height and width")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per variant")
    parser.add_argument("--precisions", default="bf16,fp32")
    parser.add_argument("--fp32-precision", choices=("default", "highest"), default="default")
    parser.add_argument("--torch-compile", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="batch 2, 32x32, one short round")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.size, args.rounds, args.steps, args.warmup = 2, 32, 1, 1, 1
    if args.fp32_precision == "highest":
        use_strict_float32()

    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch, args.size, args.size, 3), np.float32)
    labels = rng.integers(0, NUM_CLASSES, args.batch).astype(np.int32)
    device = jax.devices()[0]
    print(f"ResNet-18 train step, batch {args.batch}, {args.size}x{args.size}, SGD momentum | "
          f"jax {jax.__version__} on {device.platform} ({device.device_kind}), fp32 precision "
          f"{args.fp32_precision}")

    results = {}
    for precision in args.precisions.split(","):
        dtype = {"bf16": jnp.bfloat16, "fp32": None}[precision]
        variants = {f"dl_jax {precision}": jax_runner(dtype, images, labels)}
        peer = torch_runner(precision, images, labels)
        torch_name = None
        if peer is not None:
            torch_name = f"torch eager {precision}"
            variants[torch_name] = peer[0]
            print(f"peer: {peer[1]}, channels_last, cudnn.benchmark")
            if args.torch_compile:
                compiled = torch_runner(precision, images, labels, compile_model=True)
                variants[f"torch.compile {precision}"] = compiled[0]
        for name, run in variants.items():
            start = time.perf_counter()
            loss = run(args.warmup)
            print(f"  warm-up {name}: {time.perf_counter() - start:.1f} s (compile included), "
                  f"loss {loss:.3f}")
        seconds = interleaved_seconds(variants, args.rounds, args.steps)
        reference = min(seconds[torch_name]) if torch_name else None
        print(f"{'variant':<26}{'best img/s':>12}{'median img/s':>14}{'vs torch eager':>16}")
        for name, values in seconds.items():
            best, median = args.batch / min(values), args.batch / statistics.median(values)
            ratio = f"{reference / min(values):.2f}x" if reference else "n/a"
            print(f"{name:<26}{best:>12.0f}{median:>14.0f}{ratio:>16}")
            results[name] = {"best": best, "median": median}
        if torch_name is None:
            print("  (no PyTorch with CUDA here: peer rows skipped)")
    return results


if __name__ == "__main__":
    main()
