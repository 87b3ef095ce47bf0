"""The ``pktcable`` command: ``compile`` without click when its options are plain.

The installed console script and ``python -m pktcable`` both start here.
A provisioning script runs ``pktcable compile`` once per device, and
importing click and the whole command tree costs more CPU than compiling
the file (pktcable.compiling). Every other command, and anything the fast
path does not read (help, typos, odd option forms), goes to click.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["compile"]:
        from pktcable.compiling import fast_main

        fast_main(sys.argv[2:])  # exits, or returns when click should read the options

    from pktcable.cli import main as cli

    cli()
