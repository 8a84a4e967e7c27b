"""The base class of the errors a user can cause and fix, and the exit codes of the CLI."""

from __future__ import annotations


class HawkeyeError(Exception):
    """An error the user can fix: bad input, or a setup that cannot start or go on.

    The message says what is wrong and how to fix it. :func:`hawkeye_bench.cli.main` catches
    this class once for every command: it prints each line of the message (and of any note
    added with ``exc.add_note``) as ``error: <line>`` on stderr, with API keys redacted and no
    traceback, and exits with :attr:`exit_code`. Any other exception is a bug and keeps its
    traceback.

    Exit codes of ``hawkeye-bench``:

    - 0: success;
    - 1: the results are in but a threshold failed (``--max-error-rate``); returned by the
      commands, never raised;
    - 2: bad input or a setup that cannot start (the default :attr:`exit_code`);
    - 3: a run stopped by an outage (:class:`RunStopped`); also returned
      by ``judge`` stopped by a quota or its budget, and by ``load`` with an unmet
      ``--min-goodput``;
    - 130: interrupted (Ctrl-C).
    """

    exit_code: int = 2


class RunStopped(HawkeyeError):
    """The run cannot go on; the message says why and how to finish it.

    An outage: a model server the harness started died, an endpoint stopped answering, a
    ``serve`` worker exited. Runs and the pipeline server both raise it, so it lives here.
    """

    exit_code = 3
