"""Stopping a server process a test started, with a diagnosis when it hangs.

A server that does not exit within its (generous) budget after the signal is
sent SIGABRT; started with ``PYTHONFAULTHANDLER=1`` (see :data:`FAULT_ENV`), it
then prints every thread's stack on stderr, and the failure shows where it hung
instead of only that it did.
"""

from __future__ import annotations

import os
import signal
import subprocess

#: The environment to start a Python server with, so a hang can be diagnosed.
FAULT_ENV = {**os.environ, "PYTHONFAULTHANDLER": "1"}
#: Seconds a server may take to exit after its stop signal on a loaded machine.
STOP_BUDGET = 60.0


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT, budget: float = STOP_BUDGET) -> int:
    """Send ``sig`` and wait for the exit status; on a hang, fail with the stacks."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(budget)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            _, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        raise AssertionError(f"{proc.args!r} still running {budget:g} s after signal {sig}; its stacks:\n"
                             f"{stderr}") from None
