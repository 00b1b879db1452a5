"""autoretrain: keep a production ML model fresh, safely.

This package holds what every part agrees on (record contracts, storage layout, table definitions, the
deployment contract) plus the command line. It must stay importable with the standard library and boto3
alone: the payload-ETL Lambda ships these modules in its zip.
"""

from __future__ import annotations

__version__ = "0.1.0"
