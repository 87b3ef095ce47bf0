"""Storage behind small interfaces; an in-memory version of each for tests."""

from .leases import Lease, LeaseState, LeaseStore, MemoryLeaseStore, SqliteLeaseStore

__all__ = ["Lease", "LeaseState", "LeaseStore", "MemoryLeaseStore", "SqliteLeaseStore"]
