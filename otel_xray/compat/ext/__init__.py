"""Framework entry points of aws-xray-sdk (``aws_xray_sdk.ext.*``), mapped to OpenTelemetry instrumentations."""
