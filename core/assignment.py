"""Sticky assignment of clients to the arms of the business-impact experiment: control (served the heuristic) or
model.

Pure and standard-library only (the serving Lambda and the batch jobs both ship it). A client's arm is a function of
the client id, the salt and the control share alone: no state, no clock, no random draw. The salt is the model's
NAME, not its version, so a client keeps its arm across requests, days and releases (a new champion of the same
model sees the same control group, and the per-arm outcome rates compare like with like over time).

Each client id hashes (BLAKE2b, 64 bits) to a point in [0, 1); the client is in control when its point is below the
share. The point does not depend on the share, so the assignment is monotone in it: a client in control at share s
stays in control at every larger share, and changing the share moves only the clients whose points lie between the
old and the new share. A different salt (another model) draws an independent control group.
"""

from __future__ import annotations

import hashlib
import math

from core.records import ARM_CONTROL, ARM_MODEL, FeatureValue

_POINT_BITS = 64
_POINT_SCALE = float(2**_POINT_BITS)


def assignment_point(client_id: str, *, salt: str) -> float:
    """The client's point in [0, 1): BLAKE2b of the salt and the id (length-prefixed, so that no two (salt, id)
    pairs give the same bytes), read as a 64-bit fraction."""
    salt_bytes = salt.encode()
    digest = hashlib.blake2b(
        len(salt_bytes).to_bytes(4, "big") + salt_bytes + client_id.encode(), digest_size=_POINT_BITS // 8
    ).digest()
    return int.from_bytes(digest, "big") / _POINT_SCALE


def validate_share(share: float) -> float:
    """Return `share` if it is a control share (a finite number in [0, 1)), else raise ValueError."""
    if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share):
        raise ValueError(f"a control share must be a finite number, got {share!r}")
    if not 0.0 <= share < 1.0:
        raise ValueError(f"a control share must be in [0, 1), got {share!r}")
    return float(share)


def assign_arm(client_id: str, *, share: float, salt: str) -> str:
    """`ARM_CONTROL` when the client's point (`assignment_point`) is below `share`, else `ARM_MODEL`.

    Deterministic: the same (client id, salt) always gets the same arm at the same share; share 0 puts every
    client in the model arm.
    """
    validate_share(share)
    return ARM_CONTROL if assignment_point(client_id, salt=salt) < share else ARM_MODEL


def client_key(value: FeatureValue) -> str | None:
    """A feature's value as a client id: a string as is, a number as its shortest text with integral numbers
    written as integers (12 and 12.0 are one client); None (missing) and booleans give no client id."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)
