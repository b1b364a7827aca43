"""The one absl main every study shares: flags, the ``error:`` line, exit statuses.

Each study's ``__main__.py`` is two lines::

    from experiments.common import cli
    from experiments.<study>.study import run

    cli.main(run, "<study>")

``python -m experiments.<study> --workdir=DIR [--config=experiments/<study>/config.py[:variant]]
[--config.key=value ...]`` then runs ``run(config, workdir) -> summary dict`` and prints the
summary as JSON. Exit statuses: 0 finished, 1 a user error (one ``error:`` line on stderr, nothing
saved is touched), 2 bad command-line usage, 3 stopped early by a signal or
``stop_after_steps`` (re-run the same command to resume; see ``STOPPED_EXIT_CODE``).
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import sys
from collections.abc import Callable

from absl import app, flags, logging

from dl_jax.errors import UserError

EXPERIMENTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A run that stopped before num_steps (SIGTERM, Ctrl-C, stop_after_steps) exits with this status
# so a scheduler or wrapper can tell "unfinished, resume me" from "finished" (0).
STOPPED_EXIT_CODE = 3


def config_path(study: str) -> str:
    """The default config file of a study: ``experiments/<study>/config.py``."""
    return os.path.join(EXPERIMENTS_DIR, study, "config.py")


def define_flags(study: str):
    """Defines ``--workdir`` and ``--config`` (default ``experiments/<study>/config.py``).

    Returns:
      (workdir flag holder, config flag holder).
    """
    from ml_collections import config_flags

    workdir = flags.DEFINE_string("workdir", None, "Run directory (outputs, checkpoints).")
    config = config_flags.DEFINE_config_file(
        "config", config_path(study),
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


def fail(message: str, status: int = 1):
    """Prints ``error: <message>`` as one line on stderr and exits with ``status``."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def report(summary: dict, workdir: str) -> None:
    """Prints the final summary (stdout) so a shell user sees the result."""
    if summary:
        logging.info("summary written to %s", os.path.join(workdir, "summary.json"))
        print(json.dumps(summary, indent=2, sort_keys=True))


def main(run: Callable[[object, str], dict], study: str) -> None:
    """Defines the flags, parses the command line and runs ``run(config, workdir)``.

    ``run`` returns the summary dict; an empty dict means the run stopped before its end
    (exit status ``STOPPED_EXIT_CODE``).
    """
    workdir_flag, config_flag = define_flags(study)

    def wrapped(argv):
        if len(argv) > 1:
            fail(f"unexpected arguments {' '.join(argv[1:])}", status=2)
        if not workdir_flag.value:
            fail("--workdir is required (the run directory for outputs and checkpoints)", 2)
        from dl_jax.training.parallel import initialize_distributed

        quiet_library_logs()
        try:
            initialize_distributed()
            summary = run(config_flag.value, workdir_flag.value)
        except UserError as error:
            fail(str(error))
        report(summary, workdir_flag.value)
        if not summary:
            sys.exit(STOPPED_EXIT_CODE)

    app.run(wrapped)
