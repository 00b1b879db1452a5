"""Fargate task sizes: which vCPU and memory pairs AWS Batch accepts on Fargate (pure; unit-tested).

From the AWS Batch User Guide ("Job definition parameters", `resourceRequirements` for Fargate): each vCPU value
allows memory from a floor to a ceiling in fixed steps. Anything else is refused at `RegisterJobDefinition`,
so the stack refuses it first, naming the values that would work.
"""

from __future__ import annotations

from dataclasses import dataclass


class FargateSizeError(ValueError):
    """A vCPU/memory pair Fargate does not offer."""


@dataclass(frozen=True, slots=True)
class MemoryRange:
    """Memory choices (MiB) for one vCPU value: `low`, `low + step`, ..., `high`."""

    low: int
    high: int
    step: int

    def allows(self, memory_mib: int) -> bool:
        """Whether the memory is one of the choices."""
        return self.low <= memory_mib <= self.high and (memory_mib - self.low) % self.step == 0


FARGATE_SIZES: dict[float, MemoryRange] = {
    0.25: MemoryRange(512, 2048, 512),  # 512, 1024, 2048 (1536 is refused, see below)
    0.5: MemoryRange(1024, 4096, 1024),
    1.0: MemoryRange(2048, 8192, 1024),
    2.0: MemoryRange(4096, 16384, 1024),
    4.0: MemoryRange(8192, 30720, 1024),
    8.0: MemoryRange(16384, 61440, 4096),
    16.0: MemoryRange(32768, 122880, 8192),
}
#: The one gap the ranges above cannot express: 0.25 vCPU offers 512, 1024 and 2048 MiB only.
_EXCLUDED = {(0.25, 1536)}


@dataclass(frozen=True, slots=True)
class FargateResources:
    """`resourceRequirements` values as Batch spells them (strings)."""

    vcpu: str
    memory_mib: str

    def to_json(self) -> list[dict[str, str]]:
        """The job definition's `resourceRequirements` list."""
        return [{"type": "VCPU", "value": self.vcpu}, {"type": "MEMORY", "value": self.memory_mib}]


def fargate_resources(vcpu: float, memory_mib: int) -> FargateResources:
    """Validate a vCPU/memory pair against Fargate's sizes and format it for a job definition."""
    if vcpu not in FARGATE_SIZES:
        allowed = ", ".join(f"{value:g}" for value in FARGATE_SIZES)
        raise FargateSizeError(f"Fargate offers {allowed} vCPU, not {vcpu:g}")
    choices = FARGATE_SIZES[vcpu]
    if not choices.allows(memory_mib) or (vcpu, memory_mib) in _EXCLUDED:
        raise FargateSizeError(
            f"{vcpu:g} vCPU on Fargate takes {choices.low}-{choices.high} MiB in steps of {choices.step} MiB"
            f"{' (not 1536)' if vcpu == 0.25 else ''}, not {memory_mib} MiB"
        )
    return FargateResources(vcpu=f"{vcpu:g}", memory_mib=str(memory_mib))
