"""What every experiment's tiny absl ``main`` shares: config flag, error line, exit status."""

from __future__ import annotations

import json
import logging as std_logging
import os
import sys
from collections.abc import Callable

from absl import app, flags, logging

from dl_jax.errors import UserError

_CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "experiments", "configs")


def define_flags(config_name: str):
    """Defines ``--workdir`` and ``--config`` (default ``experiments/configs/<name>.py``).

    Returns:
      (workdir flag holder, config flag holder).
    """
    from ml_collections import config_flags

    workdir = flags.DEFINE_string("workdir", None, "Run directory (outputs, checkpoints).",
                                  required=True)
    config = config_flags.DEFINE_config_file(
        "config", os.path.join(_CONFIG_DIR, f"{config_name}.py"),
        "Config file, optionally with :variant; override fields with --config.key=value.",
        lock_config=True,
    )
    return workdir, config


class _QuietLibraries(std_logging.Filter):
    """Drops the INFO chatter of Orbax and TFDS so progress lines stay readable."""

    _PATHS = ("/orbax/", "/tensorflow_datasets/", "/etils/")

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.ERROR or not any(
            p in record.pathname for p in self._PATHS
        )


def quiet_library_logs() -> None:
    """Installs the filter on absl's handler (idempotent)."""
    handler = logging.get_absl_handler()
    if not any(isinstance(f, _QuietLibraries) for f in handler.filters):
        handler.addFilter(_QuietLibraries())


def run(main: Callable[[list[str]], object]) -> None:
    """``absl.app.run`` with dl_jax's error contract.

    A ``UserError`` prints ``error: <message>`` as one line on stderr and exits with status 1;
    whatever the run saved before stays on disk.
    """

    def wrapped(argv):
        if len(argv) > 1:
            print(f"error: unexpected arguments {' '.join(argv[1:])}", file=sys.stderr)
            sys.exit(2)
        from dl_jax.parallel import initialize_distributed

        quiet_library_logs()
        try:
            initialize_distributed()
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)

    app.run(wrapped)


def report(summary: dict, workdir: str) -> None:
    """Prints the final summary (stdout) so a shell user sees the result."""
    if summary:
        logging.info("summary written to %s", os.path.join(workdir, "summary.json"))
        print(json.dumps(summary, indent=2, sort_keys=True))
