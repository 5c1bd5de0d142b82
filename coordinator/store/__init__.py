"""Where a worker keeps the coordinator state: a RocksDB table (rocksdict) and batch overlays."""

from coordinator.store.overlay import Overlay
from coordinator.store.table import StateTable, TableMeta

__all__ = ["Overlay", "StateTable", "TableMeta"]
