"""The local daemon: receive, validate, store and show X-Ray datagrams.

Internal: a part of the ``otel-xray`` command (see ``otel_xray.__all__`` for
the public API).
"""
