"""Reservoirs: how many requests a rule samples for sure in each wall-clock second.

* :class:`Reservoir` — a local rule's ``fixed_target`` per second (spec §7.1).
* :class:`CentralizedReservoir` — a centralized rule's reservoir (spec §7.3): a ``ReservoirQuota``
  the service assigned, valid until ``ReservoirQuotaTTL``; without a valid quota, one request per
  second is *borrowed* if the rule's ``ReservoirSize`` is not 0.

Both count per whole epoch second (``int(now)``), as the AWS X-Ray SDKs do, and are thread-safe.
"""

from __future__ import annotations

import threading
from typing import Literal

__all__ = ["CentralizedReservoir", "Reservoir", "ReservoirDecision"]

#: What a centralized reservoir decided: ``"take"`` (within the quota), ``"borrow"`` (no valid
#: quota, one borrowed this second), ``"no"`` (the fixed rate decides).
ReservoirDecision = Literal["take", "borrow", "no"]


class Reservoir:
    """Up to `fixed_target` requests in each wall-clock second.

    Arguments:
        fixed_target: requests per second; a float allows ``ceil(fixed_target)`` (as the SDK).
    """

    __slots__ = ("_lock", "_second", "_used", "fixed_target")

    def __init__(self, fixed_target: float) -> None:
        self.fixed_target = fixed_target
        self._lock = threading.Lock()
        self._second = 0
        self._used = 0

    def take(self, second: int) -> bool:
        """Takes one request from second `second`'s allowance.

        Arguments:
            second: the current epoch second (``int(clock())``).

        Returns:
            ``True`` if the request fits in this second's allowance (and is counted).
        """
        with self._lock:
            if second != self._second:
                self._second = second
                self._used = 0
            if self._used < self.fixed_target:
                self._used += 1
                return True
            return False


class CentralizedReservoir:
    """A centralized rule's reservoir: TAKE within the quota, else BORROW one per second.

    Arguments:
        can_borrow: whether the rule's ``ReservoirSize`` is not 0.
    """

    __slots__ = (
        "_borrowed",
        "_lock",
        "_second",
        "_taken",
        "can_borrow",
        "interval",
        "quota",
        "quota_ttl",
    )

    def __init__(self, *, can_borrow: bool) -> None:
        self.can_borrow = can_borrow
        #: The last ``ReservoirQuota`` the service assigned (``None`` before the first).
        self.quota: int | None = None
        #: When the quota expires (epoch seconds), ``None`` before the first.
        self.quota_ttl: float | None = None
        #: The last reporting ``Interval`` the service assigned, in seconds.
        self.interval: int = 10
        self._lock = threading.Lock()
        self._second = 0
        self._taken = 0
        self._borrowed = 0

    def load_quota(self, quota: int | None, quota_ttl: float | None, interval: int | None) -> None:
        """Loads a target from ``GetSamplingTargets``; an absent value keeps the previous one."""
        with self._lock:
            if quota is not None:
                self.quota = quota
            if quota_ttl is not None:
                self.quota_ttl = quota_ttl
            if interval is not None:
                self.interval = interval

    def borrow_or_take(self, second: int) -> ReservoirDecision:
        """Decides one request at epoch second `second` (``int(clock())``).

        Returns:
            ``"take"`` if a valid quota (``quota ≥ 0`` and ``quota_ttl ≥ second``) has room this
            second; ``"no"`` if it has none; without a valid quota ``"borrow"`` for the first
            request of the second when the rule can borrow, else ``"no"``.
        """
        with self._lock:
            if second != self._second:
                self._second = second
                self._taken = 0
                self._borrowed = 0
            quota, ttl = self.quota, self.quota_ttl
            if quota is not None and quota >= 0 and ttl is not None and ttl >= second:
                if self._taken >= quota:
                    return "no"
                self._taken += 1
                return "take"
            if self.can_borrow and self._borrowed < 1:
                self._borrowed += 1
                return "borrow"
            return "no"
