"""The one exception type a user can cause.

Experiments catch `UserError` at the top of `main`, print its message as one line on stderr and
exit with status 1 — no traceback, and nothing already saved is touched.
"""


class UserError(Exception):
    """A mistake in the command line, the config or the environment that the user can fix."""
