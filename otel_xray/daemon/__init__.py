"""The local daemon: receive, validate, store and show X-Ray datagrams."""
