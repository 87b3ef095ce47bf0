"""SNMP for provisioning: a v2c message codec (sans-IO) and thin asyncio endpoints."""
