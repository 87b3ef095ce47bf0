from pktcable.launch import main

main()
