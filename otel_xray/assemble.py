"""Between translating spans one by one and encoding them: the rules that need the batch or the trace. Internal.

The translator turns one span into one document and knows nothing of its
neighbours. This step, given the documents of one export call:

- keeps each trace within X-Ray's 50 indexed annotations (:class:`AnnotationBudget`);
- nests each subsegment inside its parent's document when the parent is in the
  same batch, as the X-Ray SDKs send them (:func:`nest`): fewer datagrams, fewer
  bytes, fewer documents against X-Ray's per-Region quota. An embedded
  subsegment leaves out ``trace_id``, ``parent_id`` and ``type``, which X-Ray
  requires of independent subsegments only (its place in the document says
  all three); the encoder puts them back on any it has to send on its own
  (``wire.framing.encode_parts``). Nesting is a linear
  pass, never recursion; it stops at :data:`MAX_NESTING_DEPTH` levels (a deeper
  subsegment starts a document of its own), and parents that form a cycle
  cannot hide their spans: every document given comes out in exactly one tree;
- says how many spans each resulting document carries, for the exporter's counts.

It does no I/O and imports neither the translator nor the wire.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Dict, List, MutableMapping, Set, Tuple

from . import _fork
from .document import DEFAULT_NAMESPACE as OVER_BUDGET_NAMESPACE
from .document import EMBEDDED_OMITS, MAX_ANNOTATIONS_PER_TRACE, Document
# Traces whose annotation keys are remembered (oldest forgotten first).
TRACES_REMEMBERED = 10_000
# Embedded subsegments at most this deep below a document's top. Real traces
# are a few levels deep; a pathological chain is cut into documents of this
# depth, which keeps every document within what JSON encoders and X-Ray's
# parser handle (and keeps re-encoding linear when a document must be split).
MAX_NESTING_DEPTH = 32


class AnnotationBudget:
    """Keeps each trace within X-Ray's 50 indexed annotations.

    The first 50 distinct annotation keys this process sends for a trace win
    (in export order, then attribute order); later ones move to the document's
    ``default`` metadata namespace instead and are counted.
    """

    def __init__(self, limit: int = MAX_ANNOTATIONS_PER_TRACE, traces: int = TRACES_REMEMBERED) -> None:
        self._limit = limit
        self._traces = traces
        self._used: "OrderedDict[str, Set[str]]" = OrderedDict()
        self._lock = threading.Lock()
        _fork.reset_after_fork(self)

    def _after_fork_in_child(self) -> None:
        # The parent's lock may be held by a thread that does not exist here, and the
        # keys it guards may be half-updated: the child starts afresh.
        self._lock = threading.Lock()
        self._used = OrderedDict()

    def apply(self, doc: Document) -> int:
        """Move the annotations of ``doc`` and of the subsegments embedded in it over its trace's budget
        to metadata; returns how many moved.

        Straight from translation, only a local root's service segment embeds one: the call, whose
        annotations belong to the same trace (``translate.local_root``).
        """
        entities: List[Dict[str, Any]] = [doc]  # type: ignore[list-item]
        if "subsegments" in doc:
            index = 0
            while index < len(entities):  # a loop over the tree, in document order by level: any depth
                for child in entities[index].get("subsegments") or ():
                    if isinstance(child, dict):
                        entities.append(child)
                index += 1
        if not any(entity.get("annotations") for entity in entities):
            return 0
        trace_id = doc["trace_id"]
        moves: List[Tuple[Dict[str, Any], List[str]]] = []
        with self._lock:
            used = self._used.get(trace_id)
            if used is None:
                used = self._used[trace_id] = set()
                if len(self._used) > self._traces:
                    self._used.popitem(last=False)
            else:
                self._used.move_to_end(trace_id)
            for entity in entities:
                annotations = entity.get("annotations")
                if not annotations:
                    continue
                over = []
                for key in annotations:
                    if key in used:
                        continue
                    if len(used) < self._limit:
                        used.add(key)
                    else:
                        over.append(key)
                if over:
                    moves.append((entity, over))
        moved = 0
        for entity, over in moves:
            annotations = entity["annotations"]
            metadata = entity.setdefault("metadata", {})
            default = metadata.setdefault(OVER_BUDGET_NAMESPACE, {})
            for key in over:
                default[key] = annotations.pop(key)
            if not annotations:
                del entity["annotations"]
            moved += len(over)
        return moved


def embed(doc: Document) -> Document:
    """``doc`` made an embedded subsegment: without the fields its parent document says (:data:`EMBEDDED_OMITS`)."""
    fields: Dict[str, Any] = doc  # type: ignore[assignment]
    for key in EMBEDDED_OMITS:
        fields.pop(key, None)
    return doc


def nest(docs: List[Document], max_depth: int = MAX_NESTING_DEPTH) -> List[Tuple[Document, int]]:
    """Nest the batch's subsegments into their parents; ``[(top-level document, spans it carries)]``.

    A subsegment goes inside its parent's document when the parent is in the
    batch and in the same trace, without its ``trace_id``, ``parent_id`` and
    ``type`` (:func:`embed`). One below ``max_depth`` levels, or in a cycle of
    parents, starts a document of its own (keeping all three). Every document given appears exactly
    once in the result; the counts add up to ``len(docs)``. Linear in the batch.
    """
    if len(docs) < 2:
        return [(doc, 1) for doc in docs]
    by_id: Dict[Any, Document] = {doc["id"]: doc for doc in docs}
    # id(parent) -> its subsegments in batch order: each document is in at most one list.
    children: Dict[int, List[Document]] = {}
    heads: List[Document] = []
    for doc in docs:
        if doc.get("type") == "subsegment":
            parent = by_id.get(doc.get("parent_id"))
            if parent is not None and parent is not doc and parent["trace_id"] == doc["trace_id"]:
                siblings = children.get(id(parent))
                if siblings is None:
                    children[id(parent)] = [doc]
                else:
                    siblings.append(doc)
                continue
        heads.append(doc)
    if not children:
        return [(doc, 1) for doc in docs]

    # From the documents without a parent in the batch every path is a chain of distinct
    # parents, so each document is met once, and no "seen" set is needed here.
    result: List[Tuple[Document, int]] = []
    placed = 0
    index = 0
    while index < len(heads):  # heads grows when a subsegment is too deep to embed
        head = heads[index]
        index += 1
        kids = children.get(id(head))
        if kids is None:
            result.append((head, 1))
            placed += 1
            continue
        count = 1
        pending: List[Tuple[Document, List[Document], int]] = [(head, kids, 0)]
        while pending:
            doc, kids, depth = pending.pop()
            if depth >= max_depth:
                heads.extend(kids)  # too deep to embed: each heads a document of its own
                continue
            embedded = doc.get("subsegments")
            if embedded is None:
                doc["subsegments"] = kids
            else:
                embedded.extend(kids)
            count += len(kids)
            for kid in kids:
                # embed(kid), inline: this runs for nearly every span
                fields: Dict[str, Any] = kid  # type: ignore[assignment]
                fields.pop("trace_id", None)
                fields.pop("parent_id", None)
                fields.pop("type", None)
                grandchildren = children.get(id(kid))
                if grandchildren is not None:
                    pending.append((kid, grandchildren, depth + 1))
        result.append((head, count))
        placed += count
    if placed < len(docs):
        result.extend(_nest_cycles(docs, heads, children, max_depth))
    return result


def _nest_cycles(
    docs: List[Document], heads: List[Document], children: Dict[int, List[Document]], max_depth: int
) -> List[Tuple[Document, int]]:
    """The documents no head reaches: their parents form a cycle (or they descend from one).

    The first of them in batch order heads a document and the others nest under
    it, the cycle broken where it would close; none is left out.
    """
    reached: Set[int] = set()
    stack = list(heads)
    while stack:
        doc = stack.pop()
        reached.add(id(doc))
        stack.extend(children.get(id(doc), ()))
    result: List[Tuple[Document, int]] = []
    for first in docs:
        if id(first) in reached:
            continue
        reached.add(id(first))
        cycle_heads = [first]
        for head in cycle_heads:  # grows as subsegments too deep to embed head their own
            count = 1
            pending = [(head, 0)]
            while pending:
                doc, depth = pending.pop()
                for kid in children.get(id(doc), ()):
                    if id(kid) in reached:  # where the cycle closes
                        continue
                    reached.add(id(kid))
                    if depth >= max_depth:
                        cycle_heads.append(kid)
                        continue
                    embed(kid)
                    doc.setdefault("subsegments", []).append(kid)
                    count += 1
                    pending.append((kid, depth + 1))
            result.append((head, count))
    return result


class Assembler:
    """The assembling step of one exporter: the annotation budget it keeps, then nesting."""

    def __init__(self) -> None:
        self.budget = AnnotationBudget()

    def apply_budget(self, doc: Document, counts: MutableMapping[str, int]) -> None:
        """Apply the annotation budget to ``doc``; what moves to metadata is counted in ``counts``."""
        if "annotations" in doc or "subsegments" in doc:  # subsegments: a local root's call
            over = self.budget.apply(doc)
            if over:
                counts["annotations_over_budget"] = counts.get("annotations_over_budget", 0) + over

    def assemble(self, docs: List[Document], counts: MutableMapping[str, int]) -> List[Tuple[Document, int]]:
        """Apply the annotation budget in batch order, then :func:`nest`; counts go into ``counts``."""
        for doc in docs:
            self.apply_budget(doc, counts)
        if len(docs) == 1:  # nothing to nest
            return [(docs[0], 1)]
        return nest(docs)
