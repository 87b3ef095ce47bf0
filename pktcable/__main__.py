from pktcable.cli import main

main()
