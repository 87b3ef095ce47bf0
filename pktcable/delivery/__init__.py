"""Delivery services: TFTP (RFC 1350), HTTP and Time of Day (RFC 868).

Config files and firmware come from a :class:`~pktcable.delivery.resolvers.Resolver`,
never straight from a folder, so a device's file can be built when it asks.
Protocol cores (``tftp``, ``tod``) are sans-IO; ``tftp_aio``, ``http`` and the
transports in ``tod`` are the thin asyncio layers around them.
"""
