"""The answer of every head sampler: :class:`SamplingDecision`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["Outcome", "SamplingDecision", "request_attributes"]

#: Why a request was (not) sampled: ``"take"`` (a reservoir: the local ``fixed_target`` or the
#: centralized quota), ``"borrow"`` (centralized, before a quota arrives), ``"fixed_rate"`` (the
#: rule's rate), ``"not_sampled"``.
Outcome = Literal["take", "borrow", "fixed_rate", "not_sampled"]


class SamplingDecision:
    """A sampling decision: truthy when the request is sampled.

    Decisions are made once per rule and shared (a sampler allocates nothing per request), so they
    are immutable.
    """

    __slots__ = ("outcome", "rule_name", "sampled")

    #: Whether the request is sampled.
    sampled: bool
    #: The centralized rule that decided (``aws.xray.sampling_rule_name`` of a sampled segment);
    #: ``None`` for local rules.
    rule_name: str | None
    #: Why.
    outcome: Outcome

    def __init__(self, outcome: Outcome, rule_name: str | None = None) -> None:
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "rule_name", rule_name)
        object.__setattr__(self, "sampled", outcome != "not_sampled")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SamplingDecision is immutable")

    def __bool__(self) -> bool:
        return self.sampled

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SamplingDecision):
            return NotImplemented
        return (self.outcome, self.rule_name) == (other.outcome, other.rule_name)

    def __hash__(self) -> int:
        return hash((self.outcome, self.rule_name))

    def __repr__(self) -> str:
        return f"SamplingDecision({self.outcome!r}, rule_name={self.rule_name!r})"

    @classmethod
    def for_rule(cls, rule_name: str | None) -> tuple[SamplingDecision, ...]:
        """The four decisions of one rule: take, borrow, fixed_rate, not_sampled."""
        return (
            cls("take", rule_name),
            cls("borrow", rule_name),
            cls("fixed_rate", rule_name),
            cls("not_sampled", rule_name),
        )


def request_attributes(
    request: Mapping[str, Any],
    service_name: str | None,
    service_type: str | None,
    host: str | None,
    method: str | None,
    path: str | None,
) -> tuple[Any, Any, Any, Any, Any]:
    """The ``(service, service_type, host, method, path)`` of a request given as the SDK's dict;
    the other arguments are the samplers' keywords, which must then all be ``None``.

    Raises:
        TypeError: a keyword was given as well.
    """
    # An `or` chain, not any(): this runs once per sampling decision.
    if (
        service_name is not None
        or service_type is not None
        or host is not None
        or method is not None
        or path is not None
    ):
        raise TypeError("should_trace() takes a request dict or keywords, not both")
    get = request.get
    return get("service"), get("service_type"), get("host"), get("method"), get("path")
