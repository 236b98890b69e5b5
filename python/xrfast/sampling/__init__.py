"""Sampling: which requests X-Ray traces (head sampling, spec §7), and which assembled traces
are kept (tail sampling).

* :class:`LocalSampler` — local rules (the rules file, versions 1 and 2), decided as the AWS
  X-Ray SDK for Python decides them.
* :class:`CentralizedSampler` — the client of centralized sampling: rules and quotas from
  ``GetSamplingRules`` / ``GetSamplingTargets`` (through the daemon's TCP proxy or any
  transport), TAKE / BORROW / fixed rate, statistics reports, local rules as the fallback.
* :class:`SamplingService` — the service side: sampling rule CRUD, ``GetSamplingRules``,
  ``GetSamplingTargets`` (each rule's reservoir divided among its active clients) and
  ``GetSamplingStatisticSummaries``, request and response JSON exactly as X-Ray's API.

The head-sampling parts take an injectable clock and random source, and are thread-safe.

And for assembled traces (docs/tail-sampling.md):

* :class:`TailSampler` — tail sampling with the OpenTelemetry tail-sampling processor's policies
  (:mod:`xrfast.sampling.tail`), decided over numpy columns from the core.
* :class:`ExampleReservoirs` — k example traces per node, outcome and latency bucket, per edge
  and per path (Algorithm L, mergeable, seeded).
* :func:`load_config` — head rules, tail policies and reservoirs from one TOML or JSON file.
"""

from xrfast.sampling.client import (
    CentralizedSampler,
    HttpTransport,
    SamplingRuleState,
    Transport,
    daemon_tcp_address,
)
from xrfast.sampling.config import (
    SamplingConfig,
    SamplingConfigError,
    load_config,
    loads_config,
    parse_config,
)
from xrfast.sampling.decision import Outcome, SamplingDecision
from xrfast.sampling.errors import SamplingRequestError, SamplingRuleError
from xrfast.sampling.examples import ExampleReservoirs, Reservoir
from xrfast.sampling.local import (
    DEFAULT_LOCAL_RULES,
    LocalSampler,
    LocalSamplingRule,
    LocalSamplingRules,
    load_local_rules,
)
from xrfast.sampling.service import OPERATION_PATHS, OPERATIONS_BY_PATH, SamplingService
from xrfast.sampling.tail import TailSampler
from xrfast.sampling.wildcard import compile_wildcard, wildcard_match

__all__ = [
    "DEFAULT_LOCAL_RULES",
    "OPERATIONS_BY_PATH",
    "OPERATION_PATHS",
    "CentralizedSampler",
    "ExampleReservoirs",
    "HttpTransport",
    "LocalSampler",
    "LocalSamplingRule",
    "LocalSamplingRules",
    "Outcome",
    "Reservoir",
    "SamplingConfig",
    "SamplingConfigError",
    "SamplingDecision",
    "SamplingRequestError",
    "SamplingRuleError",
    "SamplingRuleState",
    "SamplingService",
    "TailSampler",
    "Transport",
    "compile_wildcard",
    "daemon_tcp_address",
    "load_config",
    "load_local_rules",
    "loads_config",
    "parse_config",
    "wildcard_match",
]
