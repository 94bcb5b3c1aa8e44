"""The ``sql`` block for spans of SQL databases (R63-R70), old and new ``db.*`` conventions."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Set

from ..values import clean_str

__all__ = ["SQL_SYSTEMS", "make_sql"]

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
_CONNECTION = ("db.connection_string",)
_ALL_KEYS = _SYSTEM + _NAME + _STATEMENT + _USER + _CONNECTION


def _first(attributes: Mapping[str, Any], keys: tuple) -> str:
    for key in keys:
        value = attributes.get(key)
        if type(value) is str and value:
            return value
    return ""


def make_sql(span_name: str, attributes: Mapping[str, Any], consumed: Set[str]) -> Optional[Dict[str, Any]]:
    """Return the ``sql`` block for a SQL database span, or ``None``.

    The ``db.*`` keys are consumed only when a block results: a Redis or
    DynamoDB span keeps them in metadata, as in the reference.
    """
    if "db.system" not in attributes and "db.system.name" not in attributes:
        return None
    system = _first(attributes, _SYSTEM)
    if system not in SQL_SYSTEMS:
        return None
    consumed.update(key for key in _ALL_KEYS if key in attributes)
    database = _first(attributes, _NAME)
    sql: Dict[str, Any] = {
        # The reference puts the span name here ("the connection string is not useful").
        "url": clean_str(span_name),
        "connection_string": clean_str((_first(attributes, _CONNECTION) or "localhost") + "/" + database),
        "database_type": system,
    }
    user = _first(attributes, _USER)
    if user:
        sql["user"] = clean_str(user[:MAX_SQL_USER_CHARS])
    statement = _first(attributes, _STATEMENT)
    if statement:
        sql["sanitized_query"] = clean_str(statement)
    return sql
