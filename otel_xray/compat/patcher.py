"""``patch_all()`` / ``patch([...])``: the OpenTelemetry instrumentation for each library the SDK patches.

Each SDK module name maps to an OpenTelemetry instrumentation package. A
library that is not installed is skipped (``patch_all``) or raises
(``patch``, as in the SDK); an installed library whose instrumentation package
is missing is named, with the ``pip install`` that fixes it, in one WARNING
line per call. Names of packages or modules in the current directory are
wrapped with ``capture``, function by function, as the SDK does.

Internal: the public names are those of ``otel_xray.compat``, which imports
them from here.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import pkgutil
import re
import sys
from typing import Any, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

from .sdk_config import global_sdk_config

_logger = logging.getLogger("otel_xray.compat")

SUPPORTED_MODULES = (
    "aiobotocore",
    "botocore",
    "pynamodb",
    "requests",
    "sqlite3",
    "mysql",
    "httplib",
    "pymongo",
    "pymysql",
    "psycopg2",
    "psycopg",
    "pg8000",
    "sqlalchemy_core",
    "httpx",
)
# patch_all() leaves httplib out unless double_patch=True: requests and httpx sit on top of it.
NO_DOUBLE_PATCH = tuple(module for module in SUPPORTED_MODULES if module != "httplib")


class Instrumentation(NamedTuple):
    library: str  # what must be importable for there to be anything to patch
    module: Optional[str]  # the instrumentation's module, None where OpenTelemetry has none
    instrumentor: Optional[str]
    package: Optional[str]  # what pip installs


INSTRUMENTATIONS = {
    "botocore": Instrumentation("botocore", "opentelemetry.instrumentation.botocore", "BotocoreInstrumentor", "opentelemetry-instrumentation-botocore"),
    # PynamoDB calls AWS through botocore: its calls are botocore's spans.
    "pynamodb": Instrumentation("pynamodb", "opentelemetry.instrumentation.botocore", "BotocoreInstrumentor", "opentelemetry-instrumentation-botocore"),
    "aiobotocore": Instrumentation("aiobotocore", None, None, None),
    "requests": Instrumentation("requests", "opentelemetry.instrumentation.requests", "RequestsInstrumentor", "opentelemetry-instrumentation-requests"),
    "sqlite3": Instrumentation("sqlite3", "opentelemetry.instrumentation.sqlite3", "SQLite3Instrumentor", "opentelemetry-instrumentation-sqlite3"),
    "mysql": Instrumentation("mysql.connector", "opentelemetry.instrumentation.mysql", "MySQLInstrumentor", "opentelemetry-instrumentation-mysql"),
    # OpenTelemetry instruments urllib.request, not http.client underneath it.
    "httplib": Instrumentation("http.client", "opentelemetry.instrumentation.urllib", "URLLibInstrumentor", "opentelemetry-instrumentation-urllib"),
    "pymongo": Instrumentation("pymongo", "opentelemetry.instrumentation.pymongo", "PymongoInstrumentor", "opentelemetry-instrumentation-pymongo"),
    "pymysql": Instrumentation("pymysql", "opentelemetry.instrumentation.pymysql", "PyMySQLInstrumentor", "opentelemetry-instrumentation-pymysql"),
    "psycopg2": Instrumentation("psycopg2", "opentelemetry.instrumentation.psycopg2", "Psycopg2Instrumentor", "opentelemetry-instrumentation-psycopg2"),
    "psycopg": Instrumentation("psycopg", "opentelemetry.instrumentation.psycopg", "PsycopgInstrumentor", "opentelemetry-instrumentation-psycopg"),
    "pg8000": Instrumentation("pg8000", None, None, None),
    "sqlalchemy_core": Instrumentation("sqlalchemy", "opentelemetry.instrumentation.sqlalchemy", "SQLAlchemyInstrumentor", "opentelemetry-instrumentation-sqlalchemy"),
    "httpx": Instrumentation("httpx", "opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor", "opentelemetry-instrumentation-httpx"),
}

_PATCHED: Set[str] = set()


def patch_all(double_patch: bool = False) -> None:
    """Instrument every supported library that is installed (``httplib`` only with ``double_patch=True``)."""
    patch(SUPPORTED_MODULES if double_patch else NO_DOUBLE_PATCH, raise_errors=False)


def _installed(library: str) -> bool:
    try:
        return importlib.util.find_spec(library) is not None
    except (ImportError, ValueError):
        return False


def _is_local_module(module: str) -> bool:
    """A package or module of that name in the current directory (the SDK's test)."""
    path = module.replace(".", "/")
    if os.path.isdir(os.path.realpath(path)) and (
        os.path.isfile(f"{path}/__init__.py") or os.path.isfile(f"{path}/__init__.pyc")
    ):
        return True
    return os.path.isfile(f"{path}.py") or os.path.isfile(f"{path}.pyc")


def _expand(modules: Iterable[str]) -> Set[str]:
    expanded: Set[str] = set()
    for module in modules:
        if module == "boto3":
            expanded.add("botocore")
        elif module == "aioboto3":
            expanded.add("aiobotocore")
        elif module == "pynamodb":
            expanded.update(("botocore", "pynamodb"))
        else:
            expanded.add(module)
    return expanded


def patch(
    modules_to_patch: Sequence[str], raise_errors: bool = True, ignore_module_patterns: Optional[Sequence[str]] = None
) -> None:
    """Instrument the named libraries with OpenTelemetry (see the module docstring).

    Unknown names raise, as in the SDK. With ``raise_errors`` (the default) a
    library that is not installed raises ``ImportError``.
    """
    if isinstance(modules_to_patch, str):
        modules_to_patch = (modules_to_patch,)
    if not global_sdk_config.sdk_enabled():
        _logger.debug("Skipped patching modules %s because the SDK is currently disabled.", ", ".join(modules_to_patch))
        return
    modules = _expand(modules_to_patch)
    unsupported = {module for module in modules if module not in SUPPORTED_MODULES}
    local = {module for module in unsupported if _is_local_module(module)}
    unsupported -= local
    if unsupported:
        raise Exception("modules %s are currently not supported for patching" % ", ".join(sorted(unsupported)))

    from . import xray_recorder

    provider = xray_recorder.tracer_provider
    missing: List[Tuple[str, str]] = []
    unavailable: List[str] = []
    for module in sorted(modules - local):
        if module in _PATCHED:
            continue
        spec = INSTRUMENTATIONS[module]
        if not _installed(spec.library):
            if raise_errors:
                raise ImportError(f"cannot patch {module}: {spec.library} is not installed")
            _logger.debug("otel_xray.compat: %s is not installed; nothing to patch", spec.library)
            continue
        if spec.module is None or spec.instrumentor is None:
            unavailable.append(module)
            continue
        try:
            instrumentor_class = getattr(importlib.import_module(spec.module), spec.instrumentor)
        except ImportError:
            missing.append((module, spec.package or ""))
            continue
        instrumentor = instrumentor_class()
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
        _PATCHED.add(module)
        _logger.info("otel_xray.compat: %s is traced by %s", module, spec.package)
    if missing:
        _logger.warning(
            "otel_xray.compat: no OpenTelemetry instrumentation is installed for %s, so its calls are not traced; "
            "fix: pip install %s",
            ", ".join(module for module, _ in missing),
            " ".join(sorted({package for _, package in missing})),
        )
    if unavailable:
        _logger.warning(
            "otel_xray.compat: OpenTelemetry has no instrumentation for %s, so its calls are not traced "
            "(see docs/migrating-from-aws-xray-sdk.md)",
            ", ".join(unavailable),
        )
    patterns = [re.compile(pattern) for pattern in ignore_module_patterns or ()]
    for module in sorted(local):
        _patch_local_module(module, patterns)


# ------------------------------------------------------------- local modules
def _capture_functions(module: Any) -> None:
    from . import xray_recorder

    def wrap(owner: Any, name: str, function: Any, modifier: Any = None) -> None:
        if name not in vars(owner):
            return
        label = f"{owner.__name__}.{name}" if name.startswith("__") and name.endswith("__") else name
        wrapped = xray_recorder.capture(label)(function)
        setattr(owner, name, modifier(wrapped) if modifier else wrapped)

    def patch_class(cls: Any) -> None:
        for _, member in inspect.getmembers(cls, inspect.isclass):
            if member.__module__ == module.__name__ and member is not cls:
                patch_class(member)
        for name, member in list(vars(cls).items()):
            if isinstance(member, classmethod):
                _logger.warning(
                    "Cannot automatically patch classmethod %s.%s, please apply decorator manually", cls.__name__, name
                )
            elif isinstance(member, staticmethod):
                wrap(cls, name, member.__func__, staticmethod)
            elif inspect.isfunction(member) and member.__module__ == module.__name__:
                wrap(cls, name, member)

    for name, member in inspect.getmembers(module, inspect.isfunction):
        if member.__module__ == module.__name__:
            wrap(module, name, member)
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ == module.__name__:
            patch_class(cls)


def _patch_local_module(module: str, patterns: List["re.Pattern[str]"]) -> None:
    """Wrap the functions and methods of a local module (and its submodules) with ``capture``.

    The SDK waits for the module's import; here it is imported now (unless already imported).
    """
    if module.startswith("."):
        raise Exception(f"relative packages not supported for patching: {module}")
    if module in _PATCHED or any(pattern.match(module) for pattern in patterns):
        return
    loaded = sys.modules.get(module) or importlib.import_module(module)
    _capture_functions(loaded)
    _PATCHED.add(module)
    for _, submodule_name, is_package in pkgutil.iter_modules([module.replace(".", "/")]):
        _patch_local_module(f"{module}.{submodule_name}", patterns)
