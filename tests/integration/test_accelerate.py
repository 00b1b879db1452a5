"""The demo's emulator speed-ups (`autoretrain.demo.accelerate`) change how fast moto answers, not what."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.accelerate_probe import binary_body

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def probe() -> dict[str, Any]:
    """The probe's reads before and after the patch (in a fresh interpreter: the patch is process-wide)."""
    completed = subprocess.run(  # our own probe module, with this interpreter
        [sys.executable, "-m", "tests.integration.accelerate_probe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def test_every_read_answers_the_same_after_the_patch(probe: dict[str, Any]) -> None:
    assert len(probe["before"]) == len(probe["after"]) == 8
    for before, after in zip(probe["before"], probe["after"], strict=True):
        assert {key: value for key, value in before.items() if key not in ("Items", "Responses")} == {
            key: value for key, value in after.items() if key not in ("Items", "Responses")
        }
        assert before.get("Items") == after.get("Items")  # the same items in the same order
        assert before.get("Responses") == after.get("Responses")


def test_binary_values_round_trip(probe: dict[str, Any]) -> None:
    item = probe["after"][6]["Item"]
    assert item["body"]["B"] == probe["before"][6]["Item"]["body"]["B"]
    assert bytes.fromhex(item["body"]["B"]) == binary_body(3)  # the bytes put, not only the same either way
    assert item["record_count"] == {"N": "3"}
    (batch_item,) = probe["after"][7]["Responses"].values()
    assert [bytes.fromhex(value["body"]["B"]) for value in batch_item] == [binary_body(3)]


def test_the_window_holds_what_the_key_condition_selects(probe: dict[str, Any]) -> None:
    full = probe["after"][0]
    assert [item["record_count"]["N"] for item in full["Items"]] == ["1", "2", "3", "4", "5", "6", "7"]
    assert probe["after"][3]["Count"] == 7
    assert probe["after"][1]["Count"] == 2
    assert "LastEvaluatedKey" in probe["after"][1]
    assert [item["record_count"]["N"] for item in probe["after"][2]["Items"]] == ["3", "4", "5", "6", "7"]


def test_updates_puts_and_deletes_are_followed(probe: dict[str, Any]) -> None:
    counts = [item["record_count"]["N"] for item in probe["changed"][0]["Items"]]
    assert counts == ["1", "2", "3", "44", "6", "30", "7"]


@pytest.mark.parametrize("moment", ["xml_before", "xml_after"])
def test_an_xml_body_still_carries_the_request_id_of_its_response(probe: dict[str, Any], moment: str) -> None:
    # The patch skips moto's request-id rewrite only for bodies without a <RequestId> tag.
    error = probe[moment]
    (request_id,) = re.findall(r"<RequestId>(.*?)</RequestId>", error["body"])
    assert request_id == error["header"]
    assert "<Code>NoSuchBucket</Code>" in error["body"]


def test_an_xml_body_is_otherwise_the_same_after_the_patch(probe: dict[str, Any]) -> None:
    def without_ids(body: str) -> str:
        return re.sub(r"<(RequestId|HostId)>.*?</\1>", "", body)

    assert without_ids(probe["xml_after"]["body"]) == without_ids(probe["xml_before"]["body"])
