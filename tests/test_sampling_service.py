"""The service side of centralized sampling: rule CRUD, GetSamplingRules, GetSamplingTargets,
GetSamplingStatisticSummaries — shapes checked against botocore's model, quotas against their
invariant."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from botocore_shapes import assert_valid_output
from hypothesis import given, settings
from hypothesis import strategies as st

from xrfast.exceptions import XRayError
from xrfast.sampling import SamplingRequestError, SamplingService
from xrfast.sampling.service import OPERATION_PATHS, OPERATIONS_BY_PATH

T0 = 1_700_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rule(name: str, **changes: Any) -> dict[str, Any]:
    return {
        "RuleName": name,
        "ResourceARN": "*",
        "Priority": 100,
        "FixedRate": 0.1,
        "ReservoirSize": 10,
        "ServiceName": "*",
        "ServiceType": "*",
        "Host": "*",
        "HTTPMethod": "*",
        "URLPath": "*",
        "Version": 1,
        **changes,
    }


def client_id(n: int) -> str:
    return f"{n:024x}"


def statistics(name: str, client: int, now: float, requests: int = 10, sampled: int = 1,
               borrowed: int = 0) -> dict[str, Any]:  # fmt: skip
    return {
        "RuleName": name,
        "ClientID": client_id(client),
        "Timestamp": int(now),
        "RequestCount": requests,
        "SampledCount": sampled,
        "BorrowCount": borrowed,
    }


def error_of(call: Any, *args: Any) -> tuple[str, str]:
    with pytest.raises(SamplingRequestError) as caught:
        call(*args)
    return caught.value.code, caught.value.message


# --- rules ---------------------------------------------------------------------------------


def test_the_default_rule_exists_from_the_start() -> None:
    service = SamplingService(clock=Clock(), region="eu-west-1", account_id="123456789012")
    response = service.get_sampling_rules({})
    assert_valid_output("GetSamplingRules", response)
    assert response == {
        "SamplingRuleRecords": [
            {
                "SamplingRule": {
                    "RuleName": "Default",
                    "RuleARN": "arn:aws:xray:eu-west-1:123456789012:sampling-rule/Default",
                    "ResourceARN": "*",
                    "Priority": 10000,
                    "FixedRate": 0.05,
                    "ReservoirSize": 1,
                    "ServiceName": "*",
                    "ServiceType": "*",
                    "Host": "*",
                    "HTTPMethod": "*",
                    "URLPath": "*",
                    "Version": 1,
                    "Attributes": {},
                },
                "CreatedAt": 0.0,
                "ModifiedAt": 0.0,
            }
        ]
    }


def test_create_update_delete() -> None:
    clock = Clock()
    service = SamplingService(clock=clock)
    created = service.create_sampling_rule(
        {
            "SamplingRule": rule("checkout", FixedRate=1, Priority=5),
            "Tags": [{"Key": "team", "Value": "x"}],
        }
    )
    assert_valid_output("CreateSamplingRule", created)
    record = created["SamplingRuleRecord"]
    assert record["CreatedAt"] == record["ModifiedAt"] == T0
    assert record["SamplingRule"]["FixedRate"] == 1.0
    assert record["SamplingRule"]["RuleARN"] == (
        "arn:aws:xray:us-east-1:000000000000:sampling-rule/checkout"
    )
    clock.now += 60
    updated = service.update_sampling_rule(
        {"SamplingRuleUpdate": {"RuleARN": record["SamplingRule"]["RuleARN"], "Host": "shop.*"}}
    )
    assert_valid_output("UpdateSamplingRule", updated)
    assert updated["SamplingRuleRecord"]["SamplingRule"] == {
        **record["SamplingRule"],
        "Host": "shop.*",
    }
    assert updated["SamplingRuleRecord"]["ModifiedAt"] == T0 + 60
    assert updated["SamplingRuleRecord"]["CreatedAt"] == T0
    names = [
        r["SamplingRule"]["RuleName"] for r in service.get_sampling_rules()["SamplingRuleRecords"]
    ]
    assert names == ["checkout", "Default"]
    deleted = service.delete_sampling_rule({"RuleName": "checkout"})
    assert_valid_output("DeleteSamplingRule", deleted)
    assert deleted == updated
    assert len(service.get_sampling_rules()["SamplingRuleRecords"]) == 1


def test_rules_are_listed_by_priority_then_name() -> None:
    service = SamplingService(clock=Clock())
    for name, priority in (("b", 5), ("a", 5), ("c", 1)):
        service.create_sampling_rule({"SamplingRule": rule(name, Priority=priority)})
    names = [
        r["SamplingRule"]["RuleName"] for r in service.get_sampling_rules()["SamplingRuleRecords"]
    ]
    assert names == ["c", "a", "b", "Default"]


def test_the_default_rule_only_changes_its_rate_and_reservoir() -> None:
    service = SamplingService(clock=Clock())
    updated = service.update_sampling_rule(
        {
            "SamplingRuleUpdate": {
                "RuleName": "Default",
                "FixedRate": 0.5,
                "ReservoirSize": 3,
                "Host": "*",
            }
        }
    )
    assert updated["SamplingRuleRecord"]["SamplingRule"]["FixedRate"] == 0.5
    assert updated["SamplingRuleRecord"]["SamplingRule"]["ReservoirSize"] == 3
    assert error_of(
        service.update_sampling_rule,
        {"SamplingRuleUpdate": {"RuleName": "Default", "Host": "x", "Priority": 4}},
    ) == (
        "InvalidRequestException",
        (
            "Only FixedRate, ReservoirSize and SamplingRateBoost of the Default rule can be changed, "
            "not Host, Priority."
        ),
    )
    assert error_of(service.delete_sampling_rule, {"RuleName": "Default"}) == (
        "InvalidRequestException",
        "The Default rule cannot be deleted.",
    )


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (
            {},
            (
                "1 validation error detected: Value null at 'samplingRule' failed to satisfy "
                "constraint: Member must not be null"
            ),
        ),
        (
            {"SamplingRule": rule("x", Priority=0, FixedRate=1.5)},
            (
                "2 validation errors detected: Value '0' at 'samplingRule.priority' failed to satisfy "
                "constraint: Member must have value greater than or equal to 1; Value '1.5' at "
                "'samplingRule.fixedRate' failed to satisfy constraint: Member must have value less "
                "than or equal to 1"
            ),
        ),
        (
            {"SamplingRule": {k: v for k, v in rule("x").items() if k != "Host"}},
            (
                "1 validation error detected: Value null at 'samplingRule.host' failed to satisfy "
                "constraint: Member must not be null"
            ),
        ),
        (
            {"SamplingRule": {k: v for k, v in rule("x").items() if k != "RuleName"}},
            (
                "1 validation error detected: Value null at 'samplingRule.ruleName' failed to satisfy "
                "constraint: Member must not be null"
            ),
        ),
        (
            {"SamplingRule": rule("x" * 33)},
            (
                f"1 validation error detected: Value '{'x' * 33}' at 'samplingRule.ruleName' failed to "
                "satisfy constraint: Member must have length less than or equal to 32"
            ),
        ),
        (
            {"SamplingRule": rule("x", ReservoirSize=True)},
            (
                "1 validation error detected: Value 'True' at 'samplingRule.reservoirSize' failed to "
                "satisfy constraint: Member must be an integer"
            ),
        ),
        (
            {"SamplingRule": rule("x", Attributes={str(n): "v" for n in range(6)})},
            (
                "1 validation error detected: Value '{'0': 'v', '1': 'v', '2': 'v', '3': 'v', '4': 'v', "
                "'5': 'v'}' at 'samplingRule.attributes' failed to satisfy constraint: Member must have "
                "length less than or equal to 5"
            ),
        ),
        (
            {"SamplingRule": rule("x"), "Tags": [{"Key": ""}]},
            (
                "2 validation errors detected: Value '' at 'tags.1.key' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1; Value null at 'tags.1.value' failed "
                "to satisfy constraint: Member must not be null"
            ),
        ),
        ({"SamplingRule": rule("Default")}, "Sampling rule Default already exists."),
    ],
)
def test_create_errors_are_xrays(request_body: dict[str, Any], message: str) -> None:
    service = SamplingService(clock=Clock())
    assert error_of(service.create_sampling_rule, request_body) == (
        "InvalidRequestException",
        message,
    )


def test_the_rule_limit() -> None:
    service = SamplingService(clock=Clock(), rule_limit=2)
    service.create_sampling_rule({"SamplingRule": rule("a")})
    service.create_sampling_rule({"SamplingRule": rule("b")})
    with pytest.raises(SamplingRequestError) as caught:
        service.create_sampling_rule({"SamplingRule": rule("c")})
    error = caught.value
    assert (error.code, error.message, error.http_status) == (
        "RuleLimitExceededException",
        "The account has reached its limit of 2 sampling rules.",
        400,
    )
    assert error.error_code == "RuleLimitExceededException" and isinstance(error, XRayError)
    assert error.to_dict() == {"__type": "RuleLimitExceededException", "message": error.message}


def test_rules_are_named_by_name_or_arn_not_both() -> None:
    service = SamplingService(clock=Clock())
    arn = service.create_sampling_rule({"SamplingRule": rule("a")})["SamplingRuleRecord"][
        "SamplingRule"]["RuleARN"]  # fmt: skip
    both = "Specify the sampling rule by either RuleName or RuleARN, but not both."
    assert error_of(service.delete_sampling_rule, {"RuleName": "a", "RuleARN": arn}) == (
        "InvalidRequestException", both)  # fmt: skip
    assert error_of(service.delete_sampling_rule, {}) == ("InvalidRequestException", both)
    assert error_of(service.delete_sampling_rule, {"RuleName": "zz"}) == (
        "InvalidRequestException", "Sampling rule zz does not exist.")  # fmt: skip
    assert error_of(service.update_sampling_rule, {"SamplingRuleUpdate": {"RuleARN": "arn:x"}}) == (
        "InvalidRequestException", "Sampling rule arn:x does not exist.")  # fmt: skip
    assert service.delete_sampling_rule({"RuleARN": arn})["SamplingRuleRecord"]["SamplingRule"][
        "RuleName"] == "a"  # fmt: skip
    assert error_of(service.handle, "GetSamplingRules", []) == (
        "InvalidRequestException", "The request body must be a JSON object.")  # fmt: skip


def test_get_sampling_rules_pages_with_next_token() -> None:
    service = SamplingService(clock=Clock(), page_size=2, rng=random.Random(7))
    for n in range(4):
        service.create_sampling_rule({"SamplingRule": rule(f"r{n}", Priority=n + 1)})
    names, token, pages = [], None, 0
    while True:
        response = service.get_sampling_rules({} if token is None else {"NextToken": token})
        assert_valid_output("GetSamplingRules", response)
        names += [r["SamplingRule"]["RuleName"] for r in response["SamplingRuleRecords"]]
        pages += 1
        token = response.get("NextToken")
        if token is None:
            break
    assert (names, pages) == (["r0", "r1", "r2", "r3", "Default"], 3)
    assert error_of(service.get_sampling_rules, {"NextToken": "forged"}) == (
        "InvalidRequestException", "The NextToken is not valid.")  # fmt: skip


def test_snapshot_and_restore() -> None:
    clock = Clock()
    service = SamplingService(clock=clock)
    service.create_sampling_rule({"SamplingRule": rule("a", Attributes={"k": "v"})})
    service.update_sampling_rule({"SamplingRuleUpdate": {"RuleName": "Default", "FixedRate": 0.2}})
    snapshot = service.snapshot()
    again = SamplingService(clock=clock, rules=snapshot)
    assert again.snapshot() == snapshot
    assert again.get_sampling_rules() == service.get_sampling_rules()
    empty = SamplingService(
        clock=clock, rules=[r for r in snapshot if r["SamplingRule"]["RuleName"] == "a"]
    )
    assert [r["SamplingRule"]["RuleName"] for r in empty.snapshot()] == ["a", "Default"]
    with pytest.raises(SamplingRequestError) as caught:
        SamplingService(rules=[{"SamplingRule": rule("a", Priority=10000), "CreatedAt": 0}])
    assert caught.value.message == (
        "2 validation errors detected: Value '10000' at 'samplingRuleRecords.0.samplingRule.priority' "
        "failed to satisfy constraint: Member must have value less than or equal to 9999; Value null "
        "at 'samplingRuleRecords.0.modifiedAt' failed to satisfy constraint: Member must be a "
        "timestamp (epoch seconds)"
    )


# --- targets ---------------------------------------------------------------------------------


def test_targets_divide_the_reservoir_among_active_clients() -> None:
    clock = Clock()
    service = SamplingService(clock=clock)
    service.create_sampling_rule(
        {"SamplingRule": rule("checkout", ReservoirSize=10, FixedRate=0.25)}
    )
    quotas = {}
    for client in (3, 1, 2):
        response = service.get_sampling_targets(
            {"SamplingStatisticsDocuments": [statistics("checkout", client, clock.now)]}
        )
        assert_valid_output("GetSamplingTargets", response)
        quotas[client] = response["SamplingTargetDocuments"][0]["ReservoirQuota"]
    # The first reporter, alone, gets the whole reservoir; the others get what it leaves.
    assert quotas == {3: 10, 1: 0, 2: 0}
    # Each report splits the reservoir among the clients active at that moment (4, 3, 3 in
    # ClientID order), capped by what the others hold: one round for client 3 to give back,
    # one more for the others to take their share.
    rounds = []
    for _ in range(3):
        clock.now += 10
        rounds.append(
            {
                client: service.get_sampling_targets(
                    {"SamplingStatisticsDocuments": [statistics("checkout", client, clock.now)]}
                )["SamplingTargetDocuments"][0]["ReservoirQuota"]
                for client in (1, 2, 3)
            }
        )
    assert rounds == [{1: 0, 2: 0, 3: 3}, {1: 4, 2: 3, 3: 3}, {1: 4, 2: 3, 3: 3}]
    response = service.get_sampling_targets(
        {"SamplingStatisticsDocuments": [statistics("checkout", 1, clock.now)]}
    )
    assert response == {
        "SamplingTargetDocuments": [
            {
                "RuleName": "checkout",
                "FixedRate": 0.25,
                "ReservoirQuota": 4,
                "ReservoirQuotaTTL": clock.now + 300,
                "Interval": 10,
            }
        ],
        "LastRuleModification": T0,
        "UnprocessedStatistics": [],
    }
    # Clients 2 and 3 fall silent: after the active window, client 1 gets the whole reservoir.
    clock.now += 21
    response = service.get_sampling_targets(
        {"SamplingStatisticsDocuments": [statistics("checkout", 1, clock.now)]}
    )
    assert response["SamplingTargetDocuments"][0]["ReservoirQuota"] == 10


def test_unknown_rules_old_documents_and_boosts_are_unprocessed() -> None:
    clock = Clock()
    service = SamplingService(clock=clock, max_statistics_age=600)
    response = service.get_sampling_targets(
        {
            "SamplingStatisticsDocuments": [
                statistics("gone", 1, clock.now),
                statistics("Default", 1, clock.now - 601),
                statistics("Default", 1, clock.now),
            ],
            "SamplingBoostStatisticsDocuments": [
                {
                    "RuleName": "Default",
                    "ServiceName": "a",
                    "Timestamp": T0,
                    "AnomalyCount": 1,
                    "TotalCount": 2,
                    "SampledAnomalyCount": 1,
                }
            ],
        }
    )
    assert_valid_output("GetSamplingTargets", response)
    assert response["UnprocessedStatistics"] == [
        {"RuleName": "gone", "ErrorCode": "RuleNotFound", "Message": "Sampling rule gone does not exist."},
        {"RuleName": "Default", "ErrorCode": "StatisticsTooOld",
         "Message": f"The statistics document of {T0 - 601:.0f} is older than 600 seconds."},
    ]  # fmt: skip
    assert response["UnprocessedBoostStatistics"] == [
        {"RuleName": "Default", "ErrorCode": "BoostNotSupported",
         "Message": "Sampling rate boosts are not supported."}
    ]  # fmt: skip
    assert [t["RuleName"] for t in response["SamplingTargetDocuments"]] == ["Default"]


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        ({}, ("1 validation error detected: Value null at 'samplingStatisticsDocuments' failed to "
         "satisfy constraint: Member must not be null")),
        ({"SamplingStatisticsDocuments": [statistics("a", 1, T0)] * 26},
         "1 validation error detected: Value '" + str([statistics("a", 1, T0)] * 26)[:63] + "…' at "
         "'samplingStatisticsDocuments' failed to satisfy constraint: Member must have length "
         "less than or equal to 25"),
        ({"SamplingStatisticsDocuments": [{**statistics("a", 1, T0), "ClientID": "abc",
                                           "RequestCount": -1, "Timestamp": "yesterday"}]},
         ("3 validation errors detected: Value 'abc' at 'samplingStatisticsDocuments.1.clientID' "
         "failed to satisfy constraint: Member must have length greater than or equal to 24; "
         "Value 'yesterday' at 'samplingStatisticsDocuments.1.timestamp' failed to satisfy "
         "constraint: Member must be a timestamp (epoch seconds); Value '-1' at "
         "'samplingStatisticsDocuments.1.requestCount' failed to satisfy constraint: Member must "
         "have value greater than or equal to 0")),
    ],
)  # fmt: skip
def test_target_request_errors(request_body: dict[str, Any], message: str) -> None:
    service = SamplingService(clock=Clock())
    assert error_of(service.get_sampling_targets, request_body) == (
        "InvalidRequestException",
        message,
    )


def test_timestamps_may_be_floats_or_iso_strings() -> None:
    service = SamplingService(clock=Clock())
    for stamp in (T0, int(T0), "2023-11-14T22:13:20Z", "2023-11-14T22:13:20"):
        document = {**statistics("Default", 1, T0), "Timestamp": stamp}
        response = service.get_sampling_targets({"SamplingStatisticsDocuments": [document]})
        assert response["UnprocessedStatistics"] == [], stamp
    summary = service.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]
    assert summary == [{"RuleName": "Default", "Timestamp": T0, "RequestCount": 40,
                        "BorrowCount": 0, "SampledCount": 4}]  # fmt: skip


def test_statistic_summaries_add_up_in_ten_second_windows() -> None:
    clock = Clock()
    service = SamplingService(clock=clock, page_size=2, rng=random.Random(3))
    service.create_sampling_rule({"SamplingRule": rule("a")})
    for offset, client, name in (
        (0, 1, "a"),
        (3, 2, "a"),
        (9.5, 1, "a"),
        (10, 1, "a"),
        (4, 1, "Default"),
    ):
        service.get_sampling_targets(
            {"SamplingStatisticsDocuments": [statistics(name, client, T0 + offset, 5, 2, 1)]}
        )
    summaries, token = [], None
    while True:
        response = service.get_sampling_statistic_summaries(
            {} if token is None else {"NextToken": token}
        )
        assert_valid_output("GetSamplingStatisticSummaries", response)
        summaries += response["SamplingStatisticSummaries"]
        token = response.get("NextToken")
        if token is None:
            break
    assert summaries == [
        {"RuleName": "Default", "Timestamp": T0, "RequestCount": 5, "BorrowCount": 1, "SampledCount": 2},
        {"RuleName": "a", "Timestamp": T0, "RequestCount": 15, "BorrowCount": 3, "SampledCount": 6},
        {"RuleName": "a", "Timestamp": T0 + 10, "RequestCount": 5, "BorrowCount": 1, "SampledCount": 2},
    ]  # fmt: skip
    clock.now += 3700
    assert service.get_sampling_statistic_summaries() == {"SamplingStatisticSummaries": []}


def test_last_rule_modification_follows_changes() -> None:
    clock = Clock()
    service = SamplingService(clock=clock)
    ask = {"SamplingStatisticsDocuments": []}
    assert service.get_sampling_targets(ask)["LastRuleModification"] == 0.0
    service.create_sampling_rule({"SamplingRule": rule("a")})
    clock.now += 5
    service.update_sampling_rule({"SamplingRuleUpdate": {"RuleName": "a", "FixedRate": 0.3}})
    assert service.get_sampling_targets(ask)["LastRuleModification"] == T0 + 5


@settings(max_examples=150)
@given(
    reservoir=st.integers(0, 40),
    rounds=st.lists(st.sets(st.integers(0, 12), min_size=1), min_size=1, max_size=6),
    order_seed=st.integers(0, 1000),
)
def test_quotas_of_active_clients_add_up_to_the_reservoir(
    reservoir: int, rounds: list[set[int]], order_seed: int
) -> None:
    """At every moment, the unexpired quotas of a rule's active clients add up to at most its
    reservoir; once the same clients have reported in every interval for a while, to exactly its
    reservoir, each within one of the others."""
    clock = Clock()
    service = SamplingService(clock=clock)
    service.create_sampling_rule({"SamplingRule": rule("r", ReservoirSize=reservoir)})
    shuffle = random.Random(order_seed).shuffle
    held: dict[int, tuple[float, int]] = {}  # client -> (last report, quota)
    for clients in rounds:
        # Four 10-second intervals; in each, every client reports once, at its own moment.
        for _ in range(4):
            order = sorted(clients)
            shuffle(order)
            start = clock.now
            for n, client in enumerate(order):
                clock.now = start + 9.0 * n / len(order)
                response = service.get_sampling_targets(
                    {"SamplingStatisticsDocuments": [statistics("r", client, clock.now)]}
                )
                held[client] = (clock.now, response["SamplingTargetDocuments"][0]["ReservoirQuota"])
                active = [q for seen, q in held.values() if seen >= clock.now - 20]
                assert sum(active) <= reservoir
            clock.now = start + 10
        settled = [held[client][1] for client in clients]
        assert sum(settled) == reservoir
        assert max(settled) - min(settled) <= 1


def test_operations_by_name_and_path() -> None:
    service = SamplingService(clock=Clock())
    assert OPERATIONS_BY_PATH["/SamplingTargets"] == "GetSamplingTargets"
    assert OPERATIONS_BY_PATH["/GetCentralizedSamplingRules"] == "GetSamplingRules"
    assert set(OPERATION_PATHS) == {
        "CreateSamplingRule", "UpdateSamplingRule", "DeleteSamplingRule", "GetSamplingRules",
        "GetSamplingTargets", "GetSamplingStatisticSummaries",
    }  # fmt: skip
    assert service.handle("GetSamplingRules", None) == service.get_sampling_rules({})
    assert error_of(service.handle, "PutTraceSegments", {}) == (
        "InvalidRequestException", "Unknown operation PutTraceSegments.")  # fmt: skip


def test_one_lock_keeps_it_consistent_under_threads() -> None:
    service = SamplingService(clock=Clock(), rule_limit=1000)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for k in range(50):
                service.create_sampling_rule({"SamplingRule": rule(f"t{n}-{k}")})
                service.get_sampling_targets(
                    {"SamplingStatisticsDocuments": [statistics(f"t{n}-{k}", n, T0)]}
                )
                service.get_sampling_rules({})
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(service.snapshot()) == 201
