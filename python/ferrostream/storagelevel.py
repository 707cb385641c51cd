"""Storage levels for :meth:`RDD.persist`, with PySpark's names and text forms."""

from __future__ import annotations

from typing import ClassVar

__all__ = ["StorageLevel"]


class StorageLevel:
    """Flags that say where and how an RDD's partitions are kept once computed.

    The flags are: use disk, use memory, use off-heap memory, keep the objects
    deserialized, and how many copies to keep. The usual combinations are class
    attributes (``StorageLevel.MEMORY_ONLY`` and so on). As in PySpark, Python data is
    always kept serialized, so there are no ``_SER`` variants.

    ferrostream keeps every persisted RDD in memory; the level is recorded and
    reported by :meth:`RDD.getStorageLevel`.

    Examples
    --------
    >>> StorageLevel.MEMORY_AND_DISK_2
    StorageLevel(True, True, False, False, 2)
    >>> str(StorageLevel.MEMORY_AND_DISK_2)
    'Disk Memory Serialized 2x Replicated'
    """

    NONE: ClassVar[StorageLevel]
    DISK_ONLY: ClassVar[StorageLevel]
    DISK_ONLY_2: ClassVar[StorageLevel]
    DISK_ONLY_3: ClassVar[StorageLevel]
    MEMORY_ONLY: ClassVar[StorageLevel]
    MEMORY_ONLY_2: ClassVar[StorageLevel]
    MEMORY_AND_DISK: ClassVar[StorageLevel]
    MEMORY_AND_DISK_2: ClassVar[StorageLevel]
    OFF_HEAP: ClassVar[StorageLevel]
    MEMORY_AND_DISK_DESER: ClassVar[StorageLevel]

    def __init__(
        self,
        useDisk: bool,
        useMemory: bool,
        useOffHeap: bool,
        deserialized: bool,
        replication: int = 1,
    ) -> None:
        self.useDisk = useDisk
        self.useMemory = useMemory
        self.useOffHeap = useOffHeap
        self.deserialized = deserialized
        self.replication = replication

    def _key(self) -> tuple[bool, bool, bool, bool, int]:
        return (
            bool(self.useDisk),
            bool(self.useMemory),
            bool(self.useOffHeap),
            bool(self.deserialized),
            int(self.replication),
        )

    def __repr__(self) -> str:
        return "StorageLevel({}, {}, {}, {}, {})".format(*self._key())

    def __str__(self) -> str:
        words = []
        if self.useDisk:
            words.append("Disk")
        if self.useMemory:
            words.append("Memory")
        if self.useOffHeap:
            words.append("OffHeap")
        words.append("Deserialized" if self.deserialized else "Serialized")
        return " ".join(words) + f" {self.replication}x Replicated"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StorageLevel):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


StorageLevel.NONE = StorageLevel(False, False, False, False)
StorageLevel.DISK_ONLY = StorageLevel(True, False, False, False)
StorageLevel.DISK_ONLY_2 = StorageLevel(True, False, False, False, 2)
StorageLevel.DISK_ONLY_3 = StorageLevel(True, False, False, False, 3)
StorageLevel.MEMORY_ONLY = StorageLevel(False, True, False, False)
StorageLevel.MEMORY_ONLY_2 = StorageLevel(False, True, False, False, 2)
StorageLevel.MEMORY_AND_DISK = StorageLevel(True, True, False, False)
StorageLevel.MEMORY_AND_DISK_2 = StorageLevel(True, True, False, False, 2)
StorageLevel.OFF_HEAP = StorageLevel(True, True, True, False, 1)
StorageLevel.MEMORY_AND_DISK_DESER = StorageLevel(True, True, False, True)
