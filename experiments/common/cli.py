"""The one absl main every study shares: flags, the ``error:`` line, exit statuses.

Each study's ``__main__.py`` is two lines::

    from experiments.common import cli
    from experiments.<study>.study import run

    cli.main(run, "<study>")

``python -m experiments.<study> --workdir=DIR [--config=experiments/<study>/config.py[:variant]]
[--config.key=value ...]`` then runs ``run(config, workdir) -> summary dict`` and prints the
summary as JSON; ``--help`` prints the usage, the flags and the config with its defaults. Exit
statuses: 0 finished; 1 a user error — a bad flag, config field or value, a config file that
does not load, a run that cannot go on — as one ``error:`` line on stderr, nothing saved touched;
3 stopped early by SIGTERM/SIGINT or ``stop_after_steps`` with a checkpoint (re-run the same
command to resume; ``STOPPED_EXIT_CODE``); 130 interrupted before training started.
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import re
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


def size_cpu_thread_pool(environ=os.environ) -> None:
    """Gives XLA's CPU client enough threads for the CPU devices requested (before jax starts).

    With ``JAX_NUM_CPU_DEVICES=N`` every collective needs N device programs running at once,
    but the CPU client runs them on a pool of as many threads as there are cores. On a 2-core
    machine 4 devices then deadlock in the all-reduce (XLA aborts after its 40 s rendezvous
    timeout: "only 3 of 4 arrived"). ``PJRT_NPROC`` sizes that pool; 4 threads per device
    removed the deadlock in every stress run here (see README). An explicit value is kept.
    """
    devices = int(environ.get("JAX_NUM_CPU_DEVICES", "1") or 1)
    if devices > 1 and "PJRT_NPROC" not in environ:
        environ["PJRT_NPROC"] = str(max(os.cpu_count() or 1, 4 * devices))


def apply_process_options(config, environ=os.environ) -> None:
    """Process-wide options a config may ask for, set before JAX starts its backends.

    ``config.deterministic``: XLA's ``--xla_gpu_deterministic_ops`` (GPU reductions and
    scatters in a fixed order, so a rerun is bit-identical; no effect on CPU, already
    deterministic).
    """
    if "deterministic" in config and config.deterministic:
        flag = "--xla_gpu_deterministic_ops=true"
        if flag not in environ.get("XLA_FLAGS", ""):
            environ["XLA_FLAGS"] = f"{environ.get('XLA_FLAGS', '')} {flag}".strip()


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


def fail(message: str, status: int = 1) -> None:
    """Prints ``error: <message>`` as one line on stderr and exits with ``status``."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def report(summary: dict, workdir: str) -> None:
    """Prints the final summary (stdout) so a shell user sees the result."""
    if summary:
        logging.info("summary written to %s", os.path.join(workdir, "summary.json"))
        print(json.dumps(summary, indent=2, sort_keys=True))


def _help_text(study: str, argv: list[str]) -> str:
    """Usage line, the two flags and the config's fields with their defaults."""
    path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    lines = [f"usage: python -m experiments.{study} --workdir=DIR "
             f"[--config=FILE[:variant]] [--config.FIELD=VALUE ...]", "",
             "flags:",
             "  --workdir   run directory: config.json, metrics.jsonl, summary.json, checkpoints/",
             f"  --config    config file (default {os.path.relpath(config_path(study))});"
             " ':variant' selects a variant", "",
             "config fields (override any with --config.FIELD=VALUE):"]
    try:
        spec, _, variant = (path or config_path(study)).partition(":")
        config = _load_config(spec, variant or None)
        lines += ["  " + line for line in str(config).rstrip().splitlines()]
    except Exception as error:  # noqa: BLE001 - help must print whatever the config does
        lines.append(f"  (config not loadable: {_one_line(error)})")
    return "\n".join(lines)


def _load_config(path: str, variant: str | None):
    import importlib.util

    spec = importlib.util.spec_from_file_location("_help_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant) if variant else module.get_config()


def _one_line(error: BaseException) -> str:
    """An exception's message as one line, without ml_collections' quoting and traces."""
    text = str(error.args[0] if len(error.args) == 1 else error)
    if isinstance(error, AttributeError | KeyError):  # a config field that does not exist
        field = re.search(r"(\w+)", text)
        suggestion = re.search(r'Did you mean "(\w+)"', text)
        hint = f" (did you mean {suggestion.group(1)!r}?)" if suggestion else ""
        name = field.group(1) if field else text
        for arg in sys.argv[1:]:  # name the whole dotted path the user typed
            path = arg.split("=", 1)[0].removeprefix("--config.")
            if arg.startswith("--config.") and path.split(".")[-1] == name:
                name = path
        return f"the config has no field {name!r}{hint}"
    if "config file" in text:
        reasons = [line.strip() for line in text.splitlines()
                   if "Errno" in line or "Error:" in line]
        return "cannot load the config file" + (f": {reasons[-1]}" if reasons else "")
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _parse_flags(study: str, config_flag):
    """The flag parser: every parse or config error becomes one ``error:`` line."""

    def parse(argv: list[str]) -> list[str]:
        try:
            rest = flags.FLAGS(argv)
            config_flag.value.to_dict()  # a config that failed to load raises here
        except UserError as error:
            fail(str(error))
        except Exception as error:  # noqa: BLE001 - absl, ml_collections and config errors
            fail(_one_line(error))
        return rest

    return parse


def main(run: Callable[[object, str], dict], study: str) -> None:
    """Defines the flags, parses the command line and runs ``run(config, workdir)``.

    ``run`` returns the summary dict; an empty dict means the run stopped before its end
    (exit status ``STOPPED_EXIT_CODE``).
    """
    size_cpu_thread_pool()
    if any(a in ("-h", "--help", "--helpshort", "-help") for a in sys.argv[1:]):
        print(_help_text(study, sys.argv[1:]))
        sys.exit(0)
    try:  # ml_collections applies --config.FIELD overrides while the flag is defined
        workdir_flag, config_flag = define_flags(study)
    except UserError as error:
        fail(str(error))
    except Exception as error:  # noqa: BLE001 - typo'd field, bad value, missing config file
        fail(_one_line(error))

    def wrapped(argv):
        if len(argv) > 1:
            fail(f"unexpected arguments {' '.join(argv[1:])}")
        if not workdir_flag.value:
            fail("--workdir is required (the run directory for outputs and checkpoints)")
        apply_process_options(config_flag.value)
        from dl_jax.training.parallel import initialize_distributed

        quiet_library_logs()
        try:
            initialize_distributed()
            summary = run(config_flag.value, workdir_flag.value)
        except UserError as error:
            fail(str(error))
        except KeyboardInterrupt:
            # Interrupted outside the training loop (which stops cleanly by itself): leave at
            # once, without the interpreter's teardown racing XLA's compile threads.
            print("error: interrupted; re-run the same command to resume", file=sys.stderr)
            sys.stderr.flush()
            os._exit(130)
        report(summary, workdir_flag.value)
        if not summary:
            sys.exit(STOPPED_EXIT_CODE)

    app.run(wrapped, flags_parser=_parse_flags(study, config_flag))
