"""pktcable: DOCSIS/PacketCable provisioning suite."""
