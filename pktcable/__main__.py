import sys

if sys.argv[1:2] == ["compile"]:
    # Without click when the options are plain (pktcable.compiling).
    from pktcable.compiling import fast_main

    fast_main(sys.argv[2:])

from pktcable.cli import main  # noqa: E402

main()
