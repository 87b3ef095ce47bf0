"""SIP for phone provisioning (RFC 3261 messages and non-INVITE transactions,
RFC 6665 SUBSCRIBE/NOTIFY dialogs, the RFC 6080 ua-profile event package),
sans-IO, with thin asyncio transports in :mod:`pktcable.sip.transport`."""
