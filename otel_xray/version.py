"""The package version.

Internal: read it as ``otel_xray.__version__``.
"""

__version__ = "0.1.0"
