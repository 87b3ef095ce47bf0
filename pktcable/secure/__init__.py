"""The Secure flow: PacketCable PKI, Kerberos names and structures."""
