"""Sampling: which requests X-Ray traces (head sampling, spec §7).

* :class:`LocalSampler` — local rules (the rules file, versions 1 and 2), decided as the AWS
  X-Ray SDK for Python decides them.
* :class:`CentralizedSampler` — the client of centralized sampling: rules and quotas from
  ``GetSamplingRules`` / ``GetSamplingTargets`` (through the daemon's TCP proxy or any
  transport), TAKE / BORROW / fixed rate, statistics reports, local rules as the fallback.
* :class:`SamplingService` — the service side: sampling rule CRUD, ``GetSamplingRules``,
  ``GetSamplingTargets`` (each rule's reservoir divided among its active clients) and
  ``GetSamplingStatisticSummaries``, request and response JSON exactly as X-Ray's API.

Every part takes an injectable clock and random source, and is thread-safe.
"""

from xrfast.sampling.client import (
    CentralizedSampler,
    HttpTransport,
    SamplingRuleState,
    Transport,
    daemon_tcp_address,
)
from xrfast.sampling.decision import Outcome, SamplingDecision
from xrfast.sampling.errors import SamplingRequestError, SamplingRuleError
from xrfast.sampling.local import (
    DEFAULT_LOCAL_RULES,
    LocalSampler,
    LocalSamplingRule,
    LocalSamplingRules,
    load_local_rules,
)
from xrfast.sampling.service import OPERATION_PATHS, OPERATIONS_BY_PATH, SamplingService
from xrfast.sampling.wildcard import compile_wildcard, wildcard_match

__all__ = [
    "DEFAULT_LOCAL_RULES",
    "OPERATIONS_BY_PATH",
    "OPERATION_PATHS",
    "CentralizedSampler",
    "HttpTransport",
    "LocalSampler",
    "LocalSamplingRule",
    "LocalSamplingRules",
    "Outcome",
    "SamplingDecision",
    "SamplingRequestError",
    "SamplingRuleError",
    "SamplingRuleState",
    "SamplingService",
    "Transport",
    "compile_wildcard",
    "daemon_tcp_address",
    "load_local_rules",
    "wildcard_match",
]
