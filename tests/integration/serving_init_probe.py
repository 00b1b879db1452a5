"""Run in a fresh interpreter with a Lambda-like environment (`python -m tests.integration.serving_init_probe
EVENT_JSON`): import the serving handler (Lambda's init phase), then install an audit hook and invoke the handler
once. Prints one JSON object: whether the import initialised the service, the response, and the modules imported
and the classes unpickled during the request.

An audit hook cannot be removed, so this runs in its own process (tests/integration/test_serving_init.py).
"""

from __future__ import annotations

import json
import sys
import uuid
from types import SimpleNamespace
from typing import Any


def main() -> None:
    """Import, hook, invoke, report."""
    event = json.loads(sys.argv[1])
    from lambdas.serving import handler as serving  # the import is what is being probed

    imported: list[str] = []
    unpickled: list[str] = []

    def hook(name: str, args: tuple[Any, ...]) -> None:
        if name == "import":
            imported.append(str(args[0]))
        elif name == "pickle.find_class":
            unpickled.append(f"{args[0]}.{args[1]}")

    initialised = serving.cold_start.cache_info().currsize == 1
    sys.addaudithook(hook)
    response = serving.handler(event, SimpleNamespace(aws_request_id=str(uuid.uuid4())))
    report = {
        "initialised_at_import": initialised,
        "response": response,
        "imported": list(imported),
        "unpickled": list(unpickled),
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
