"""The provisioning server's side of the PacketCable flows."""
