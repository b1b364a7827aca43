"""python -m experiments.translate --workdir=DIR "three hundred and forty-two" (see README.md).

Loads the newest checkpoint and the tokenizers of an ``experiments.nmt`` run and prints the
beam-search translation. Exit statuses as every study: 0 done, 1 a user error (one ``error:``
line: unknown word, untrained workdir), 2 bad usage.
"""
from absl import app, flags

from dl_jax.errors import UserError
from experiments.common import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "An experiments.nmt run directory.")


def main(argv):
    """Translates the positional sentence."""
    if len(argv) != 2:
        cli.fail('give one sentence to translate, e.g. "three hundred and forty-two"', status=2)
    if not _WORKDIR.value:
        cli.fail("--workdir is required (an experiments.nmt run directory)", status=2)
    cli.quiet_library_logs()
    try:
        from experiments.nmt.study import Translator

        print(Translator(_WORKDIR.value).translate(argv[1]))
    except UserError as error:
        cli.fail(str(error))


if __name__ == "__main__":
    app.run(main)
