"""The side-by-side comparison with aws-xray-sdk: one app, traced by each, compared as the X-Ray console sees it."""
