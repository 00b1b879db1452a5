"""The ground floor: what every runtime part agrees on.

Record contracts, the storage layout, table definitions, the deployment contract's settings, the registry, event
names and routing, and the small AWS adapters every part shares. It imports nothing of the layers above it
(lambdas, batch_jobs, deploy, infra, autoretrain) and stays importable with the standard library and boto3
alone: the zip Lambdas ship these modules.
"""

from __future__ import annotations
