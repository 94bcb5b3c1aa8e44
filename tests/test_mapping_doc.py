"""docs/mapping.md names what the code does: every counter, aws field and key, aws.xray attribute and setting."""

from __future__ import annotations

import pathlib

import pytest

from otel_xray import config
from otel_xray.translate import COUNTER_NAMES
from otel_xray.translate.attributes import ANNOTATIONS_ATTRIBUTE, METADATA_PREFIX
from otel_xray.translate.aws import CALL_FIELDS
from otel_xray.translate.flags import FLAG_ATTRIBUTES
from otel_xray.translate.local_root import LOCAL_ROOT_ATTRIBUTE
from otel_xray.translate.resource import VOLATILE_RESOURCE_KEYS
from otel_xray.translate.segment import IN_PROGRESS_ATTRIBUTE

MAPPING = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "mapping.md").read_text()

NAMES = [
    *COUNTER_NAMES,
    *(field for field, _ in CALL_FIELDS),
    *(key for _, keys in CALL_FIELDS for key in keys),
    *FLAG_ATTRIBUTES,
    ANNOTATIONS_ATTRIBUTE,
    METADATA_PREFIX,
    IN_PROGRESS_ATTRIBUTE,
    LOCAL_ROOT_ATTRIBUTE,
    *VOLATILE_RESOURCE_KEYS,
    config.OTEL_EXPORTER_XRAY_RESOURCE_METADATA,
    config.OTEL_EXPORTER_XRAY_URL_QUERY,
    config.OTEL_EXPORTER_XRAY_INDEXED_ATTRIBUTES,
    config.OTEL_EXPORTER_XRAY_INDEX_ALL_ATTRIBUTES,
]


@pytest.mark.parametrize("name", sorted(set(NAMES)))
def test_mapping_reference_names_it(name):
    assert f"`{name}" in MAPPING, f"docs/mapping.md does not mention `{name}`"
