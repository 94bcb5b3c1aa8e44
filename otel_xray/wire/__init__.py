"""Encoding and transports: what goes to X-Ray, and how (internal; see ``otel_xray.__all__``).

``framing`` encodes documents within X-Ray's size limit, ``transport`` states
the contract every transport meets and picks one from the settings, ``udp``
sends to the X-Ray daemon, ``otlp_udp`` frames OTLP for Lambda's endpoint.
Nothing here imports the translator.
"""
