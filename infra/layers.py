"""The AWS SDK for pandas (awswrangler) managed Lambda layer: which ARN a function of ours uses (pure; unit-tested).

AWS publishes the layer per region, Python version and architecture as
`arn:aws:lambda:<region>:<account>:layer:AWSSDKPandas-Python<3XX>[-Arm64]:<version>`
(https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html; `docs/source/layers.rst` of aws/aws-sdk-pandas,
read at the 3.17.0 release). The account is 336392948345 in the regions enabled by default and a region's own account
in the opt-in regions; the China regions (another partition) are left out, as is every region without a layer. Layer
versions are numbered per region: the stack config names the version (`awsSdkPandasLayerVersion`).
"""

from __future__ import annotations

import re

#: The account publishing the layer in each region that has one (aws partition).
AWS_SDK_PANDAS_LAYER_ACCOUNTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "af-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1",
            "ap-southeast-2", "ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
            "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
        ),
        "336392948345",
    ),
    "ap-east-1": "839552336658",
    "ap-south-2": "246107603503",
    "ap-southeast-3": "258944054355",
    "ap-southeast-4": "945386623051",
    "ca-west-1": "941713567376",
    "eu-central-2": "956415814219",
    "eu-south-1": "774444163449",
    "eu-south-2": "982086096842",
    "il-central-1": "263840725265",
    "me-central-1": "593833071574",
}  # fmt: skip
#: The layer version of awswrangler 3.17.0 for Python 3.13 in the regions of account 336392948345 except af-south-1
#: (13 there; 11 in most opt-in regions, 3 in ca-west-1: set `awsSdkPandasLayerVersion` for those).
DEFAULT_AWS_SDK_PANDAS_LAYER_VERSION = 14

_PYTHON_RUNTIME = re.compile(r"^python3\.(\d+)$")
_LAYER_ARCHITECTURES = {"x86_64": "", "arm64": "-Arm64"}


class LayerError(ValueError):
    """No managed layer exists for this region, runtime or architecture."""


def aws_sdk_pandas_layer_arn(region: str, runtime: str, architecture: str, version: int) -> str:
    """The managed layer's ARN for a function of `runtime` (e.g. `python3.13`) on `architecture` in `region`."""
    if region not in AWS_SDK_PANDAS_LAYER_ACCOUNTS:
        raise LayerError(f"AWS SDK for pandas publishes no managed layer in region {region!r}")
    python = _PYTHON_RUNTIME.match(runtime)
    if python is None:
        raise LayerError(f"the AWS SDK for pandas layer is for Python runtimes, not {runtime!r}")
    if architecture not in _LAYER_ARCHITECTURES:
        raise LayerError(
            f"the AWS SDK for pandas layer is built for {sorted(_LAYER_ARCHITECTURES)}, not {architecture!r}"
        )
    if version < 1:
        raise LayerError(f"a layer version is a positive integer, not {version}")
    name = f"AWSSDKPandas-Python3{python.group(1)}{_LAYER_ARCHITECTURES[architecture]}"
    return f"arn:aws:lambda:{region}:{AWS_SDK_PANDAS_LAYER_ACCOUNTS[region]}:layer:{name}:{version}"
