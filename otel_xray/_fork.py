"""Fork safety for everything the package owns that holds a lock, a counter, a socket or a thread.

``os.fork()`` copies only the thread that called it. A lock another thread held
at that moment stays held in the child forever, so the child's first export
would hang; a socket would be shared with the parent; a background thread
would be gone while the object still believes it runs. Each such object
registers here and gets ``_after_fork_in_child()`` called in the child, where it
replaces its locks, opens its own socket on first use, restarts threads lazily
and starts its counters at zero (the parent's counts are the parent's).

One ``os.register_at_fork`` hook serves every object: registrations cannot be
removed, so one per object would leak; a ``WeakSet`` lets objects go.

Internal (see ``otel_xray.__all__`` for the public API).
"""

from __future__ import annotations

import os
import weakref
from typing import Any

_registered: "weakref.WeakSet[Any]" = weakref.WeakSet()


def reset_after_fork(obj: Any) -> None:
    """Call ``obj._after_fork_in_child()`` in every child forked while ``obj`` is alive."""
    _registered.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_registered):
        try:
            obj._after_fork_in_child()
        except Exception:  # pragma: no cover - a hook must not break the child's fork
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
