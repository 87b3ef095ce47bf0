"""Provisioning DHCPv4 server: sans-IO core, lease engine, asyncio transport."""

from .config import DeviceClass, Pool, Reservation, ServerConfig, Subnet
from .server import DhcpServer, Reply

__all__ = ["DeviceClass", "DhcpServer", "Pool", "Reply", "Reservation", "ServerConfig", "Subnet"]
