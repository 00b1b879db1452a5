"""The top of the house: the `autoretrain` command line, the embedded emulator, the local runner and the demo.

It may import every layer below it (core, lambdas, batch_jobs, deploy, infra); nothing below imports it, and no
image or bundle ships it.
"""

from __future__ import annotations
