"""Databases: the name of a database's node, and the ``sql`` block for SQL databases (docs/mapping.md, "sql").

Old and new ``db.*`` conventions are read alike. A database's subsegment is
named after the database (``db.name``/``db.namespace``, with ``@host``; the
file's base name for SQLite), else after the system (``db.system``), never
after the statement: instrumentations name database spans by statement verb,
which would give a database one service-map node per verb.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Set, Tuple
from urllib.parse import urlsplit

from ..document import Sql
from ..values import clean_str
from ._attr import first, text

__all__ = ["SQL_SYSTEMS", "SQL_KEYS", "SYSTEM_KEYS", "DATABASE_KEYS", "DATABASE_NAME_KEYS", "make_sql", "database_name", "database_host"]

SQL_SYSTEMS = frozenset(
    (
        "db2", "derby", "hive", "mariadb", "mssql", "mysql", "oracle", "postgresql",
        "sqlite", "teradata", "other_sql",
        # Stable (v1.26+) names of the same systems.
        "ibm.db2", "microsoft.sql_server", "oracle.db",
    )
)
MAX_SQL_USER_CHARS = 250

# field -> attribute keys, old convention first
_SYSTEM = ("db.system", "db.system.name")
_NAME = ("db.name", "db.namespace")
_STATEMENT = ("db.statement", "db.query.text")
_USER = ("db.user",)
_CONNECTION = "db.connection_string"
_HOST = ("server.address", "net.peer.name")
_PORT = ("server.port", "net.peer.port")
# A span without one of these has no sql block.
SYSTEM_KEYS = _SYSTEM
# Consumed when a sql block results (the host and port keys are the http chain's).
SQL_KEYS = _SYSTEM + _NAME + _STATEMENT + _USER + (_CONNECTION,)
# A span is a database call when it has one of these; the naming rule reads the rest too.
DATABASE_KEYS = _SYSTEM + _NAME
DATABASE_NAME_KEYS = DATABASE_KEYS + (_CONNECTION,) + _HOST + ("rpc.system",)


def _url_parts(connection: str) -> Tuple[str, str]:
    """Host and port of a connection string that is a URL (``jdbc:`` allowed), else ``("", "")``."""
    if connection.startswith("jdbc:"):
        connection = connection[5:]
    if "//" not in connection:
        return "", ""
    try:
        parts = urlsplit(connection)
        port = parts.port
        return parts.hostname or "", str(port) if port else ""
    except ValueError:
        return "", ""


def _port(attributes: Mapping[str, Any]) -> str:
    for key in _PORT:
        value = attributes.get(key)
        if type(value) is int and value > 0:
            return str(value)
        if type(value) is str and value.isascii() and value.isdigit():
            return value
    return ""


def database_host(attributes: Mapping[str, Any]) -> Tuple[str, str]:
    """The database's host and port: from ``db.connection_string``, else ``server.address``/``server.port`` (or the old ``net.peer.*``)."""
    connection = text(attributes, _CONNECTION)
    if connection:
        host, port = _url_parts(connection)
        if host:
            return host, port
    host = first(attributes, _HOST)
    return host, _port(attributes) if host else ""


def _base_name(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or path


def database_name(attributes: Mapping[str, Any]) -> str:
    """``name@host`` (``db.name``/``db.namespace``), the file's base name for SQLite, else ``db.system``; ``""`` for none."""
    name = first(attributes, _NAME)
    system = first(attributes, _SYSTEM)
    if not name:
        # An AWS SDK call (DynamoDB sets db.system) is named after the AWS service instead.
        if not system or attributes.get("rpc.system") == "aws-api":
            return ""
        return system
    if system == "sqlite":
        return _base_name(name)
    host, _ = database_host(attributes)
    return f"{name}@{host}" if host else name


def make_sql(attributes: Mapping[str, Any], consumed: Set[str]) -> Optional[Sql]:
    """Return the ``sql`` block for a SQL database span, or ``None``.

    The ``db.*`` keys are consumed only when a block results: a Redis or
    DynamoDB span keeps them in metadata, as in the Collector.
    """
    if "db.system" not in attributes and "db.system.name" not in attributes:
        return None
    system = first(attributes, _SYSTEM)
    if system not in SQL_SYSTEMS:
        return None
    consumed.update(key for key in SQL_KEYS if key in attributes)
    database = first(attributes, _NAME)
    host, port = database_host(attributes)
    address = f"{host}:{port}" if port else host
    path = f"/{database}" if database else ""
    sql: Sql = {}
    if host:
        # The database's URL, as aws-xray-sdk records it (the user is a field of its own).
        sql["url"] = clean_str(f"{system}://{address}{path}")
    connection = text(attributes, _CONNECTION)
    if connection:
        sql["connection_string"] = clean_str(connection + path)
    # Without db.connection_string, host, port and database are all in url already.
    sql["database_type"] = system
    user = first(attributes, _USER)
    if user:
        sql["user"] = clean_str(user[:MAX_SQL_USER_CHARS])
    statement = first(attributes, _STATEMENT)
    if statement:
        sql["sanitized_query"] = clean_str(statement)
    return sql
