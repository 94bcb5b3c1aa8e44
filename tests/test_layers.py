"""Data flows one way: export -> translate -> assemble -> encode -> send. No module imports a later step's caller.

Read from the source (imports anywhere in a module, lazy ones included), so that
a step back fails here rather than in review.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import otel_xray

PACKAGE = pathlib.Path(otel_xray.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: pathlib.Path):
    """The otel_xray modules ``path`` imports (``from . import x`` counts as ``x``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "otel_xray" or target.startswith("otel_xray."):
                found.update(f"{target}.{alias.name}" for alias in node.names)
                found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("otel_xray"))
    return found


def _files(pattern: str):
    return sorted(PACKAGE.glob(pattern))


@pytest.mark.parametrize(
    "files, forbidden",
    [
        # The wire encodes and moves documents; it knows nothing of spans or batches.
        ("wire/*.py", ("otel_xray.translate", "otel_xray.assemble", "otel_xray.exporter")),
        # Assembling works on documents only: no translation, no I/O.
        ("assemble.py", ("otel_xray.translate", "otel_xray.wire", "otel_xray.exporter")),
        # Translation is pure: nothing after it in the flow.
        ("translate/*.py", ("otel_xray.assemble", "otel_xray.wire", "otel_xray.exporter", "otel_xray.config")),
        # Settings are read before anything runs.
        ("config.py", ("otel_xray.",)),
    ],
)
def test_no_step_imports_a_later_step(files, forbidden):
    offending = []
    for path in _files(files):
        for module in imported_modules(path):
            if module.startswith(forbidden):
                offending.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert offending == []
