"""OID registry for SNMP object names, generated from MIB modules."""

from mibs.registry import IndexPart, MibError, MibObject, Registry, default_registry

__all__ = ["IndexPart", "MibError", "MibObject", "Registry", "default_registry"]
