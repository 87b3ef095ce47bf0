"""The eCM/eMTA simulator: plays the device side of the PacketCable flows
against any provisioning system over real UDP, checking each step."""
