"""aws-xray-sdk's Django integration on OpenTelemetry: ``INSTALLED_APPS += ["otel_xray.compat.ext.django"]``."""

# Django < 3.2 needs the app's config named here.
default_app_config = "otel_xray.compat.ext.django.apps.XRayConfig"
