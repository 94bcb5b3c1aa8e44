"""A subset of X-Ray's filter expressions: a parser with clear errors, compiled to SQL over the store.

Supported (keywords are case-insensitive; strings in double quotes with ``\\"`` and ``\\\\``
escapes; numbers are decimal, optionally negative, with an optional fraction)::

    ok | error | fault | throttle | partial       the trace's root segment: 2xx, 4xx, 5xx, 429; in progress
    <flag> = true|false                           the same, explicitly
    responsetime <op> N                           seconds, the root segment's response time
    duration <op> N                               seconds, from the first start to the last end
    http.status <op> N
    http.url | http.method | http.useragent | http.clientip | user  <op> "text"
    annotation.KEY <op> value                     value: "text", a number, true or false
    service("name")                               a service-map node of that name is in the trace
    service(id(name: "n", type: "t"))             ... of that name and type (either may be left out)
    edge("source", "destination")                 an edge between those nodes is in the trace
    id("1-...")                                   the trace with that ID
    A AND B | A OR B | NOT A | !A | ( ... )

Number operators: ``= != < <= > >=``. String operators: ``= != CONTAINS BEGINSWITH ENDSWITH``
(case-sensitive, as in X-Ray). ``annotation.KEY`` matches when the trace holds that annotation
with a value of the compared type that satisfies the comparison.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple, Union


class FilterError(ValueError):
    """A filter expression that cannot be parsed; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, text: str, position: int) -> None:
        self.reason = message
        self.text = text
        self.position = position
        super().__init__(f"{message} at column {position + 1}: {text[:position]}\u2192{text[position:]}".rstrip())


# ---------------------------------------------------------------- tokens
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<op><=|>=|!=|=|<|>|\(|\)|,|:|!)
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class _Token:
    kind: str  # string | number | op | word | end
    text: str
    value: Any
    position: int


def _tokens(text: str) -> List[_Token]:
    found: List[_Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "bad"
        raw = match.group()
        if kind == "space":
            continue
        if kind == "bad":
            if raw == '"':
                raise FilterError("unterminated string", text, match.start())
            raise FilterError(f"unexpected character {raw!r}", text, match.start())
        value: Any = raw
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.DOTALL)
        elif kind == "number":
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        found.append(_Token(kind, raw, value, match.start()))
    found.append(_Token("end", "", None, len(text)))
    return found


# ---------------------------------------------------------------- syntax tree
@dataclass(frozen=True)
class Flag:
    name: str  # ok | error | fault | throttle | partial
    value: bool = True


@dataclass(frozen=True)
class Compare:
    field: str  # responsetime, duration, http.status, http.url, ..., annotation
    op: str
    value: Any
    key: Optional[str] = None  # the annotation key


@dataclass(frozen=True)
class Service:
    name: Optional[str]
    type: Optional[str] = None


@dataclass(frozen=True)
class EdgeMatch:
    source: str
    destination: str


@dataclass(frozen=True)
class TraceIdIs:
    trace_id: str


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class Logic:
    op: str  # AND | OR
    left: "Node"
    right: "Node"


Node = Union[Flag, Compare, Service, EdgeMatch, TraceIdIs, Not, Logic]

_FLAGS = ("ok", "error", "fault", "throttle", "partial")
_NUMBER_FIELDS = ("responsetime", "duration", "http.status")
_STRING_FIELDS = ("http.url", "http.method", "http.useragent", "http.clientip", "user")
_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "contains", "beginswith", "endswith")
_ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9_.]{1,500}$")
# The binary operators, loosest first: AND binds tighter than OR.
_BINARY = ("or", "and")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, message: str, token: Optional[_Token] = None) -> FilterError:
        return FilterError(message, self.text, (token or self.token).position)

    def take(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def is_word(self, *words: str) -> bool:
        return self.token.kind == "word" and self.token.text.lower() in words

    def expect_op(self, op: str, what: str) -> None:
        if self.token.kind != "op" or self.token.text != op:
            raise self.fail(f"expected {what}" + (f", found {self.token.text!r}" if self.token.text else ""))
        self.take()

    # expression := and (OR and)* ; and := unary (AND unary)* ; unary := (NOT|!) unary | primary
    def expression(self, level: int = 0) -> Node:
        """Operands joined by the binary operator of ``level`` in :data:`_BINARY` (loosest first), left to right."""
        if level == len(_BINARY):
            return self.unary()
        node = self.expression(level + 1)
        while self.is_word(_BINARY[level]):
            self.take()
            node = Logic(_BINARY[level].upper(), node, self.expression(level + 1))
        return node

    def unary(self) -> Node:
        if self.is_word("not") or (self.token.kind == "op" and self.token.text == "!"):
            self.take()
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.token
        if token.kind == "op" and token.text == "(":
            self.take()
            node = self.expression()
            self.expect_op(")", "')' to close the '(' at column %d" % (token.position + 1))
            return node
        if token.kind == "end":
            raise self.fail("expected a condition (e.g. fault, http.status = 500, service(\"name\"))")
        if token.kind != "word":
            raise self.fail(f"expected a condition, found {token.text!r}")
        word = token.text.lower()
        if word in _FLAGS:
            self.take()
            if self.token.kind == "op" and self.token.text in ("=", "!="):
                op = self.take().text
                value = self.boolean()
                return Flag(word, value if op == "=" else not value)
            return Flag(word)
        if word == "service":
            return self.service()
        if word == "edge":
            return self.edge()
        if word == "id":
            self.take()
            self.expect_op("(", "'(' after id")
            trace_id = self.string("a trace ID in double quotes")
            self.expect_op(")", "')'")
            return TraceIdIs(trace_id)
        if word.startswith("annotation.") or word == "annotation":
            key = token.text[len("annotation.") :]
            if not key:
                raise self.fail("expected an annotation key after 'annotation.'")
            if not _ANNOTATION_KEY.match(key):
                raise self.fail(f"invalid annotation key {key!r}")
            self.take()
            return self.comparison("annotation", key)
        if word in _NUMBER_FIELDS or word in _STRING_FIELDS:
            self.take()
            return self.comparison(word, None)
        raise self.fail(
            f"unknown keyword {token.text!r}; supported: ok, error, fault, throttle, partial, responsetime, duration, "
            "http.status, http.url, http.method, http.useragent, http.clientip, user, annotation.KEY, service(), edge(), id()"
        )

    def boolean(self) -> bool:
        if self.is_word("true", "false"):
            return self.take().text.lower() == "true"
        raise self.fail("expected true or false")

    def string(self, what: str) -> str:
        if self.token.kind != "string":
            raise self.fail(f"expected {what}")
        return str(self.take().value)

    def operator(self, allowed: Tuple[str, ...], field: str) -> str:
        token = self.token
        text = token.text.lower()
        if (token.kind == "op" or token.kind == "word") and text in allowed:
            self.take()
            return text
        raise self.fail(f"expected an operator after {field} ({' '.join(o.upper() for o in allowed)})")

    def comparison(self, field: str, key: Optional[str]) -> Compare:
        name = f"annotation.{key}" if key is not None else field
        if field == "annotation":
            op = self.operator(_NUMBER_OPS + _STRING_OPS[2:], name)
            token = self.token
            if token.kind == "string":
                value: Any = self.take().value
            elif token.kind == "number":
                value = self.take().value
            elif self.is_word("true", "false"):
                value = self.boolean()
            else:
                raise self.fail(f"expected a value after {name} {op.upper()} (\"text\", a number, true or false)")
            if isinstance(value, str) and op in ("<", "<=", ">", ">="):
                raise self.fail(f"{op} compares numbers; {name} is compared with a string", token)
            if isinstance(value, bool) and op not in ("=", "!="):
                raise self.fail("true and false compare only with = and !=", token)
            if not isinstance(value, str) and op in _STRING_OPS[2:]:
                raise self.fail(f"{op.upper()} needs a string in double quotes", token)
            return Compare("annotation", op, value, key)
        if field in _NUMBER_FIELDS:
            op = self.operator(_NUMBER_OPS, name)
            if self.token.kind != "number":
                raise self.fail(f"expected a number after {name} {op}")
            return Compare(field, op, self.take().value)
        op = self.operator(_STRING_OPS, name)
        return Compare(field, op, self.string(f"a string in double quotes after {name} {op.upper()}"))

    def service(self) -> Service:
        self.take()
        self.expect_op("(", "'(' after service")
        if self.token.kind == "op" and self.token.text == ")":
            raise self.fail('expected a service name: service("name")')
        if self.is_word("id"):
            self.take()
            self.expect_op("(", "'(' after id")
            fields = {}
            while True:
                if not self.is_word("name", "type"):
                    raise self.fail("expected name: or type: inside id(...)")
                field = self.take().text.lower()
                self.expect_op(":", f"':' after {field}")
                fields[field] = self.string(f"the {field} in double quotes")
                if self.token.kind == "op" and self.token.text == ",":
                    self.take()
                    continue
                break
            self.expect_op(")", "')' to close id(")
            self.expect_op(")", "')' to close service(")
            return Service(fields.get("name"), fields.get("type"))
        name = self.string('a service name in double quotes: service("name")')
        self.expect_op(")", "')' to close service(")
        return Service(name)

    def edge(self) -> EdgeMatch:
        self.take()
        self.expect_op("(", "'(' after edge")
        source = self.string('the source service in double quotes: edge("a", "b")')
        self.expect_op(",", "',' between the two services of edge()")
        destination = self.string("the destination service in double quotes")
        self.expect_op(")", "')' to close edge(")
        return EdgeMatch(source, destination)


def parse_filter(text: str) -> Optional[Node]:
    """The syntax tree of ``text``; ``None`` for an empty expression. Raises :class:`FilterError`."""
    if not text or not text.strip():
        return None
    parser = _Parser(text)
    node = parser.expression()
    if parser.token.kind != "end":
        token = parser.token
        if token.kind == "op" and token.text == ")":
            raise parser.fail("unbalanced ')'")
        raise parser.fail(f"expected AND, OR or the end of the expression, found {token.text!r}")
    return node


# ---------------------------------------------------------------- SQL
# Columns of the store's ``traces`` table (alias ``t``).
_COLUMNS = {
    "responsetime": "t.response_time",
    "duration": "t.duration",
    "http.status": "t.http_status",
    "http.url": "t.http_url",
    "http.method": "t.http_method",
    "http.useragent": "t.user_agent",
    "http.clientip": "t.client_ip",
    "user": "t.user",
}
_FLAG_SQL = {
    "ok": "(t.fault = 0 AND t.error = 0 AND t.throttle = 0)",
    "error": "t.error = 1",
    "fault": "t.fault = 1",
    "throttle": "t.throttle = 1",
    "partial": "t.in_progress = 1",
}


def _string_test(column: str, op: str, value: str, params: List[Any]) -> str:
    if op == "=":
        params.append(value)
        return f"{column} = ?"
    if op == "!=":
        params.append(value)
        return f"({column} IS NOT NULL AND {column} != ?)"
    if op == "contains":
        params.append(value)
        return f"instr({column}, ?) > 0"
    params.extend([value, value])
    if op == "beginswith":
        return f"substr({column}, 1, length(?)) = ?"
    return f"substr({column}, -length(?)) = ?"


def _to_sql(node: Node, params: List[Any]) -> str:
    if isinstance(node, Logic):
        left = _to_sql(node.left, params)
        right = _to_sql(node.right, params)
        return f"({left} {node.op} {right})"
    if isinstance(node, Not):
        return f"(NOT COALESCE({_to_sql(node.operand, params)}, 0))"
    if isinstance(node, Flag):
        sql = _FLAG_SQL[node.name]
        return sql if node.value else f"(NOT {sql})"
    if isinstance(node, TraceIdIs):
        params.append(node.trace_id)
        return "t.trace_id = ?"
    if isinstance(node, Service):
        conditions = []
        if node.name is not None:
            params.append(node.name)
            conditions.append("n.name = ?")
        if node.type is not None:
            params.append(node.type)
            conditions.append("n.type = ?")
        where = " AND ".join(conditions) or "1"
        # t.nodes lists the trace's service-map nodes as |id|id|
        return f"EXISTS (SELECT 1 FROM nodes n WHERE {where} AND instr(t.nodes, '|' || n.node_id || '|') > 0)"
    if isinstance(node, EdgeMatch):
        params.extend([node.source, node.destination])
        # t.edges lists the trace's edges as |source>destination|
        return (
            "EXISTS (SELECT 1 FROM nodes s, nodes d WHERE s.name = ? AND d.name = ? "
            "AND instr(t.edges, '|' || s.node_id || '>' || d.node_id || '|') > 0)"
        )
    assert isinstance(node, Compare)
    if node.field == "annotation":
        params.append(node.key)
        value = node.value
        compared: Any
        if isinstance(value, bool):
            kind, compared = "b", int(value)
        elif isinstance(value, str):
            kind, compared = "s", value
        else:
            kind, compared = "n", value
        if node.op in _STRING_OPS[2:]:
            test = _string_test("a.value", node.op, str(compared), params)
        else:
            params.append(compared)
            test = f"a.value {'<>' if node.op == '!=' else node.op} ?"
        # The annotations table is keyed (key, kind, value, trace): a comparison reads only the matching range.
        return f"t.trace_id IN (SELECT a.trace_id FROM annotations a WHERE a.key = ? AND a.kind = '{kind}' AND {test})"
    column = _COLUMNS[node.field]
    if node.field in _NUMBER_FIELDS:
        params.append(node.value)
        return f"{column} {'<>' if node.op == '!=' else node.op} ?"
    return _string_test(column, node.op, node.value, params)


def compile_filter(text: Optional[str]) -> Tuple[str, List[Any]]:
    """``(SQL condition over the traces table aliased t, parameters)``; ``("1", [])`` for no filter."""
    node = parse_filter(text or "")
    if node is None:
        return "1", []
    params: List[Any] = []
    return _to_sql(node, params), params
