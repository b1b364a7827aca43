"""Many short collective programs in a row on N CPU devices (jit, shard_map, pmap).

Run by tests/test_cli.py in a fresh process: ``python tests/collective_stress.py N ITERATIONS``.
It sizes the CPU client's thread pool the way the experiments' CLI does, then prints
"<mode> ok" per mode; a deadlock in XLA's all-reduce aborts the process instead.
"""

import sys

from experiments.common.cli import size_cpu_thread_pool

size_cpu_thread_pool()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402


def main(devices: int, iterations: int) -> None:
    x = np.ones((devices, 32, 32), np.float32)
    mesh = Mesh(np.array(jax.devices()[:devices]), ("data",))
    split = NamedSharding(mesh, P("data"))
    programs = {
        "jit": (jax.jit(lambda a: jnp.sum(a @ a, axis=0), out_shardings=NamedSharding(mesh, P())),
                jax.device_put(x, split)),
        "shard_map": (jax.jit(jax.shard_map(lambda a: jax.lax.psum(a @ a, "data"), mesh=mesh,
                                            in_specs=P("data"), out_specs=P())),
                      jax.device_put(x, split)),
        "pmap": (jax.pmap(lambda a: jax.lax.psum(a @ a, "i"), axis_name="i"), x),
    }
    for name, (program, argument) in programs.items():
        for _ in range(iterations):
            out = program(argument)
        jax.block_until_ready(out)
        print(name, "ok", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
