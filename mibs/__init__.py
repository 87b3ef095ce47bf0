"""OID registry for SNMP object names, generated from MIB modules."""

from mibs.objects import IndexPart, MibError, MibObject
from mibs.registry import Registry, default_registry

__all__ = ["IndexPart", "MibError", "MibObject", "Registry", "default_registry"]
