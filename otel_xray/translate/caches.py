"""Caches for what repeats between spans, bounded by the memory they hold.

Span names, routes and stack traces repeat endlessly, so the translator keeps
what it derived from them. Each cache belongs to one ``Translator`` (nothing is
shared between exporters), holds entries up to an estimate of their size in
bytes, lets its oldest entries go first when full, and never keeps a key longer
than its limit (a one-off megabyte name is converted, not remembered).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, Generic, Hashable, Optional, TypeVar

__all__ = ["BoundedCache", "ENTRY_OVERHEAD_BYTES"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# What a dict entry, its key object and a small value cost beyond their text (CPython, 64-bit).
ENTRY_OVERHEAD_BYTES = 200


class BoundedCache(Generic[K, V]):
    """A mapping bounded by ``max_bytes`` (estimated), evicting the oldest entries first.

    ``get`` is the underlying dict's own ``get``: a hit costs one C call.
    """

    __slots__ = ("get", "max_bytes", "max_key_chars", "_values", "_costs", "_bytes")

    def __init__(self, max_bytes: int, max_key_chars: int) -> None:
        self.max_bytes = max_bytes
        self.max_key_chars = max_key_chars
        self._values: Dict[K, V] = {}
        # Insertion order is eviction order; OrderedDict pops its oldest entry in O(1).
        self._costs: "OrderedDict[K, int]" = OrderedDict()
        self._bytes = 0
        self.get: Callable[[K], Optional[V]] = self._values.get

    def put(self, key: K, value: V, key_chars: int, value_bytes: int) -> None:
        """Remember ``value`` unless the key is too long or the entry alone exceeds the budget."""
        if key_chars > self.max_key_chars:
            return
        cost = key_chars + value_bytes + ENTRY_OVERHEAD_BYTES
        if cost > self.max_bytes or key in self._values:
            return
        self._values[key] = value
        self._costs[key] = cost
        self._bytes += cost
        while self._bytes > self.max_bytes:
            old_key, old_cost = self._costs.popitem(last=False)
            del self._values[old_key]
            self._bytes -= old_cost

    @property
    def bytes_held(self) -> int:
        """The estimated size of what the cache holds."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._values)
