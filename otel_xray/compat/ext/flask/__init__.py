"""aws-xray-sdk's Flask integration on OpenTelemetry.

Public as a path: ``otel_xray.compat.ext.flask.middleware.XRayMiddleware``
stands in for ``aws_xray_sdk.ext.flask.middleware.XRayMiddleware``.
"""
