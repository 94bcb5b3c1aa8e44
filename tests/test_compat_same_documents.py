"""Same documents as aws-xray-sdk: one sample service, run with the SDK and with only its import changed.

Both runs send to a local daemon on loopback; the documents received are
compared entity by entity along the trace's tree. Every difference must be a
row of the table in docs/migrating-from-aws-xray-sdk.md, and every ``kept``
row must still occur (a stale row fails too).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Dict, Iterator, List, NamedTuple, Set, Tuple

import pytest


from .conftest import ROOT
from .xray_fixtures import entities_as_read, received_from_script

pytest.importorskip("aws_xray_sdk", reason="aws-xray-sdk (a test dependency) is not installed")
pytest.importorskip("requests", reason="requests (a test dependency) is not installed")

SAMPLE = ROOT / "tests" / "compat_sample" / "service.py"
GUIDE = ROOT / "docs" / "migrating-from-aws-xray-sdk.md"
SDK_IMPORT = "from aws_xray_sdk.core import xray_recorder, patch_all"
COMPAT_IMPORT = "from otel_xray.compat import xray_recorder, patch_all"
CAUSE_REFERENCE = "reference to an exception recorded below"

Fact = Tuple[str, str, str]  # (entity path, aspect, value)


class Difference(NamedTuple):
    side: str
    entity: str
    aspect: str
    value: str
    status: str
    reason: str

    def matches(self, side: str, fact: Fact) -> bool:
        path, aspect, value = fact
        return (
            side == self.side
            and fnmatch.fnmatchcase(path, self.entity)
            and self.aspect in ("*", aspect)
            and fnmatch.fnmatchcase(value, self.value)
        )


def listed_differences() -> List[Difference]:
    """The rows of the guide's table between the differences markers."""
    text = GUIDE.read_text(encoding="utf-8")
    block = re.search(r"<!-- differences:start -->(.*?)<!-- differences:end -->", text, re.S)
    assert block, "the guide has no differences table"
    rows = []
    for line in block.group(1).strip().splitlines()[2:]:  # skip the header and its rule
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 6, f"malformed row: {line}"
        row = Difference(*cells)
        assert row.side in ("sdk", "compat") and row.status in ("kept", "pending-translate", "after-translate"), row
        rows.append(row)
    return rows


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "str"}.get(type(value), type(value).__name__)


def facts(documents: List[Dict[str, Any]]) -> Set[Fact]:
    """What the comparison looks at, per entity, keyed by the entity's path of names in the trace's tree."""
    # As X-Ray reads them: an embedded subsegment takes its trace, parent and type from its place.
    entities = entities_as_read(documents)
    by_id = {entity["id"]: entity for entity in entities}
    children: Dict[Any, List[Dict[str, Any]]] = {}
    for entity in entities:
        parent = entity.get("parent_id")
        children.setdefault(parent if parent in by_id else None, []).append(entity)

    def walk(entity: Dict[str, Any], path: str) -> Iterator[Fact]:
        yield path, "entity", "subsegment" if entity.get("type") == "subsegment" else "segment"
        if entity.get("namespace"):
            yield path, "namespace", entity["namespace"]
        for key, value in (entity.get("annotations") or {}).items():
            yield path, "annotation", f"{key}={_type_name(value)}:{value!r}"
        for namespace, values in (entity.get("metadata") or {}).items():
            for key in values:
                yield path, "metadata", f"{namespace}/{key}"
        if entity.get("user"):
            yield path, "user", entity["user"]
        for flag in ("error", "fault", "throttle"):
            if entity.get(flag):
                yield path, "flag", flag
        cause = entity.get("cause")
        if isinstance(cause, str):
            yield path, "cause", CAUSE_REFERENCE
        elif isinstance(cause, dict):
            for exception in cause.get("exceptions") or ():
                yield path, "cause", f"{exception.get('type')}: {exception.get('message')}"
        yield from walk_children(entity["id"], path + "/")

    def walk_children(parent: Any, prefix: str) -> Iterator[Fact]:
        seen: Dict[str, int] = {}
        for child in sorted(children.get(parent, []), key=lambda item: item["start_time"]):
            seen[child["name"]] = seen.get(child["name"], 0) + 1
            suffix = f"#{seen[child['name']]}" if seen[child["name"]] > 1 else ""
            yield from walk(child, prefix + child["name"] + suffix)

    return set(walk_children(None, ""))


def run_sample(tmp_path: Any, import_line: str) -> List[Dict[str, Any]]:
    source = SAMPLE.read_text(encoding="utf-8")
    assert source.count(SDK_IMPORT) == 1
    script = tmp_path / ("sdk.py" if import_line == SDK_IMPORT else "compat.py")
    script.write_text(source.replace(SDK_IMPORT, import_line), encoding="utf-8")
    received = received_from_script(script, tmp_path)
    assert received, "no documents arrived"
    assert all(item.verdict.valid for item in received), [item.verdict for item in received]
    return [item.document for item in received]


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory: Any) -> Tuple[Set[Fact], Set[Fact]]:
    tmp = tmp_path_factory.mktemp("same-documents")
    return facts(run_sample(tmp, SDK_IMPORT)), facts(run_sample(tmp, COMPAT_IMPORT))


def test_the_sample_changes_nothing_but_the_import() -> None:
    source = SAMPLE.read_text(encoding="utf-8")
    assert SDK_IMPORT in source and "otel_xray" not in source.replace(COMPAT_IMPORT, "")


def test_both_runs_record_the_whole_trace(both_runs: Tuple[Set[Fact], Set[Fact]]) -> None:
    for run in both_runs:
        paths = {path for path, aspect, _ in run if aspect == "entity"}
        assert {"checkout", "checkout/load_order", "checkout/pricing", "checkout/pricing/apply_coupon",
                "checkout/127.0.0.1", "checkout/127.0.0.1/inventory", "checkout/127.0.0.1#2/inventory",
                "checkout/reserve_stock/reserve", "checkout/payment"} <= paths
        assert ("checkout", "annotation", "order_total=int:1250") in run  # the segment, annotated from nested code
        assert ("checkout", "user", "alice") in run
        assert ("checkout/127.0.0.1#2/inventory", "flag", "throttle") in run


def test_every_difference_is_listed_in_the_guide(both_runs: Tuple[Set[Fact], Set[Fact]]) -> None:
    sdk, compat = both_runs
    rows = listed_differences()
    observed = [("sdk", fact) for fact in sorted(sdk - compat)] + [("compat", fact) for fact in sorted(compat - sdk)]
    unlisted = [(side, fact) for side, fact in observed if not any(row.matches(side, fact) for row in rows)]
    assert not unlisted, "differences not listed in docs/migrating-from-aws-xray-sdk.md:\n" + "\n".join(
        f"  {side}: {fact}" for side, fact in unlisted
    )
    stale = [row for row in rows if row.status == "kept" and not any(row.matches(side, fact) for side, fact in observed)]
    assert not stale, f"rows listed as kept that no longer occur (remove them from the guide): {stale}"


def test_flag_differences_go_once_the_translator_reads_the_flag_attributes(both_runs: Tuple[Set[Fact], Set[Fact]]) -> None:
    sdk, compat = both_runs
    pending = [row for row in listed_differences() if row.status == "pending-translate"]
    observed = [("sdk", fact) for fact in sdk - compat] + [("compat", fact) for fact in compat - sdk]
    assert not [fact for side, fact in observed if any(row.matches(side, fact) for row in pending)]
