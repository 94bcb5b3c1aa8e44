"""Framing and sending: what goes on the wire to the daemon, and how."""
