"""The CloudFormation template synthesised from the topology: valid for cfn-lint, in agreement with
the topology, least privilege, no secrets."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint  # type: ignore[import-untyped]
from pydantic import SecretStr
from typer.testing import CliRunner

from supporterflow.config import Settings
from supporterflow.declare import Consumer, Cron, Every
from supporterflow.deploy import check_against, synthesize
from supporterflow.deploy.cloudformation import ENVIRONMENT_KEYS, aws_cron, schedule_expression
from supporterflow.entrypoints.deploy_cli import deploy_app
from supporterflow.functions.apple_update import apple_update
from supporterflow.topology import TOPOLOGY

APP = "mobile-purchases"


@pytest.fixture(scope="module", params=["CODE", "PROD"])
def template(request: pytest.FixtureRequest) -> dict[str, Any]:
    return synthesize(TOPOLOGY, app=APP, stage=request.param)


@pytest.fixture(scope="module")
def code() -> dict[str, Any]:
    return synthesize(TOPOLOGY, app=APP, stage="CODE")


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in template["Resources"].items() if r["Type"] == kind}


def function_of(template: dict[str, Any], sf_function: str) -> str:
    """The logical id of the function that runs ``sf_function``."""
    (lid,) = [
        lid
        for lid, p in of_type(template, "AWS::Lambda::Function").items()
        if p["Environment"]["Variables"]["SF_FUNCTION"] == sf_function
    ]
    return lid


def queue_id(template: dict[str, Any], physical: str) -> str:
    (lid,) = [lid for lid, p in of_type(template, "AWS::SQS::Queue").items() if p["QueueName"] == physical]
    return lid


def statements(template: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    role = template["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = template["Resources"][role]["Properties"]["Policies"]
    return list(policy["PolicyDocument"]["Statement"])


def test_cfn_lint_finds_no_error(template: dict[str, Any]) -> None:
    matches = lint(json.dumps(template), regions=["eu-west-1"])
    errors = [f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path))}" for m in matches]
    assert [e for e in errors if e.startswith("E")] == []


def test_the_template_agrees_with_the_topology(template: dict[str, Any]) -> None:
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert check_against(TOPOLOGY, template) == []


def test_table_names_are_the_originals(code: dict[str, Any]) -> None:
    names = {p["TableName"] for p in of_type(code, "AWS::DynamoDB::Table").values()}
    assert {
        "mobile-purchases-CODE-subscriptions",
        "mobile-purchases-CODE-subscription-events-v2",
        "mobile-purchases-CODE-user-subscriptions",
        "mobile-purchases-CODE-outbox",
    } <= names
    queues = {p["QueueName"] for p in of_type(code, "AWS::SQS::Queue").values()}
    assert {
        "mobile-purchases-soft-opt-in-acquisitions-DLQ-CODE",
        "mobile-purchases-CODE-apple-subscriptions-to-fetch",
        "mobile-purchases-CODE-apple-subscriptions-to-fetch-dlq",
        "mobile-purchases-CODE-feast-apple-acquisition-events-dlq",
    } <= queues
    assert not any(q.startswith(("braze-emails", "soft-opt-in-consent-setter")) for q in queues)


def test_tables_are_kept_and_shaped_from_their_definitions(code: dict[str, Any]) -> None:
    resources = code["Resources"]
    for table in TOPOLOGY.tables:
        (lid,) = [
            lid
            for lid, p in of_type(code, "AWS::DynamoDB::Table").items()
            if p["TableName"] == table.physical_name(APP, "CODE")
        ]
        resource = resources[lid]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
        properties = resource["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert properties["KeySchema"][0] == {"AttributeName": table.hash_key, "KeyType": "HASH"}
        assert {i["IndexName"] for i in properties.get("GlobalSecondaryIndexes", [])} == set(table.indexes)
        assert ("StreamSpecification" in properties) == table.stream
        assert properties.get("TimeToLiveSpecification", {}).get("AttributeName") == table.ttl_attribute
    outbox = resources["OutboxTable"]["Properties"]
    assert outbox["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert outbox["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_the_revalidation_index_projects_what_the_originals_does(code: dict[str, Any]) -> None:
    """DynamoDB cannot change a GSI's projection: adopting the original's table keeps its index
    only if the template asks for the same one."""
    (subscriptions,) = [
        p
        for p in of_type(code, "AWS::DynamoDB::Table").values()
        if p["TableName"] == "mobile-purchases-CODE-subscriptions"
    ]
    projections = {i["IndexName"]: i["Projection"] for i in subscriptions["GlobalSecondaryIndexes"]}
    assert projections == {
        "ios-endTimestamp-revalidation-index-with-platform": {
            "ProjectionType": "INCLUDE",
            "NonKeyAttributes": ["autoRenewing", "platform", "receipt"],
        }
    }


def test_every_queue_with_a_dlq_redrives_to_it_and_every_dlq_has_an_alarm(code: dict[str, Any]) -> None:
    queues = of_type(code, "AWS::SQS::Queue")
    alarmed = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in of_type(code, "AWS::CloudWatch::Alarm").values()
        if a["Namespace"] == "AWS/SQS"
    }
    dlqs = [q for q in TOPOLOGY.all_queues() if q.dlq_name]
    assert dlqs
    for queue in dlqs:
        dlq = TOPOLOGY.queue(queue.dlq_name or "")
        dlq_id = queue_id(code, dlq.physical_name(APP, "CODE"))
        redrive = queues[queue_id(code, queue.physical_name(APP, "CODE"))]["RedrivePolicy"]
        assert redrive == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
            "maxReceiveCount": queue.max_receives,
        }
        assert queues[dlq_id]["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert dlq_id in alarmed
    assert "OutboxRelayDlqQueue" in alarmed


def test_alarms_can_fire(code: dict[str, Any]) -> None:
    alarms = list(of_type(code, "AWS::CloudWatch::Alarm").values())
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopicArn"}] for a in alarms)
    assert all(a["TreatMissingData"] == "notBreaching" for a in alarms)
    assert {a["Namespace"] for a in alarms} == {"AWS/SQS", "AWS/Lambda"}  # the metrics AWS publishes
    errors = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms if a.get("MetricName") == "Errors"}
    assert errors == set(of_type(code, "AWS::Lambda::Function"))
    ages = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms if a.get("MetricName") == "IteratorAge"}
    assert ages == {function_of(code, s.name) for s in TOPOLOGY.streams} | {"OutboxRelayFunction"}


def test_every_consumer_subscription_and_schedule_has_its_function_and_trigger(code: dict[str, Any]) -> None:
    mappings = list(of_type(code, "AWS::Lambda::EventSourceMapping").values())
    functions = of_type(code, "AWS::Lambda::Function")
    for consumer in TOPOLOGY.consumers:
        lid = function_of(code, consumer.name)
        assert functions[lid]["Handler"] == "supporterflow.entrypoints.aws_lambda.consumer"
        source = {
            "Fn::GetAtt": [queue_id(code, TOPOLOGY.queue(consumer.queue).physical_name(APP, "CODE")), "Arn"]
        }
        (mapping,) = [
            m for m in mappings if m["FunctionName"] == {"Ref": lid} and m["EventSourceArn"] == source
        ]
        assert mapping["BatchSize"] == consumer.batch_size
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # AWS refuses an SQS trigger whose visibility is shorter than the function's timeout.
        assert functions[lid]["Timeout"] <= TOPOLOGY.queue(consumer.queue).visibility_s
    for subscription in TOPOLOGY.streams:
        lid = function_of(code, subscription.name)
        assert functions[lid]["Handler"] == "supporterflow.entrypoints.aws_lambda.stream"
        (mapping,) = [m for m in mappings if m["FunctionName"] == {"Ref": lid} and "StartingPosition" in m]
        assert mapping["StartingPosition"] == "LATEST"
        assert mapping["BisectBatchOnFunctionError"] is True
        assert mapping["MaximumRetryAttempts"] == subscription.max_attempts - 1
        retry = queue_id(code, subscription.retry_queue.physical_name(APP, "CODE"))
        assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [retry, "Arn"]}
        (pattern,) = mapping["FilterCriteria"]["Filters"]
        assert json.loads(pattern["Pattern"]) == {"eventName": sorted(subscription.events)}
        # ... and it consumes its retry queue.
        assert any(m["EventSourceArn"] == {"Fn::GetAtt": [retry, "Arn"]} for m in mappings)
        assert functions[lid]["Timeout"] <= subscription.retry_queue.visibility_s
    rules = of_type(code, "AWS::Events::Rule")
    permissions = of_type(code, "AWS::Lambda::Permission").values()
    for schedule in TOPOLOGY.schedules:
        lid = function_of(code, schedule.name)
        (rule_id,) = [r for r, p in rules.items() if p["Targets"][0]["Arn"] == {"Fn::GetAtt": [lid, "Arn"]}]
        assert rules[rule_id]["ScheduleExpression"] == schedule_expression(schedule)
        assert any(p["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]} for p in permissions)
    assert functions["ApiFunction"]["Handler"] == "supporterflow.entrypoints.aws_lambda.http"
    assert of_type(code, "AWS::ApiGatewayV2::Route")["HttpApiDefaultRoute"]["RouteKey"] == "$default"


def test_a_consumer_removed_from_the_template_is_named(code: dict[str, Any]) -> None:
    template = json.loads(json.dumps(code))
    apple = function_of(template, "apple-subscriptions-to-fetch:apple_update")
    for lid, properties in of_type(template, "AWS::Lambda::EventSourceMapping").items():
        if properties["FunctionName"] == {"Ref": apple}:
            del template["Resources"][lid]
    assert check_against(TOPOLOGY, template) == [
        "consumer apple-subscriptions-to-fetch:apple_update: no trigger from "
        "mobile-purchases-CODE-apple-subscriptions-to-fetch to function "
        "apple-subscriptions-to-fetch:apple_update in the template"
    ]
    del template["Resources"]["OutboxTable"]
    assert any(
        "the outbox table: no table mobile-purchases-CODE-outbox" in p
        for p in check_against(TOPOLOGY, template)
    )


def test_a_consumer_added_to_the_topology_is_named(code: dict[str, Any]) -> None:
    more = dataclasses.replace(
        TOPOLOGY, consumers=(*TOPOLOGY.consumers, Consumer("apple-historical-subscriptions", apple_update))
    )
    problems = check_against(more, code)
    assert (
        "consumer apple-historical-subscriptions:apple_update: no function with SF_FUNCTION=" in problems[0]
    )
    assert any("no trigger from mobile-purchases-CODE-apple-historical-subscriptions" in p for p in problems)
    fewer = dataclasses.replace(TOPOLOGY, schedules=TOPOLOGY.schedules[1:])
    problems = check_against(fewer, code)
    assert "template: function with SF_FUNCTION=apple_revalidate is not in the topology" in problems


def test_no_statement_allows_every_resource(template: dict[str, Any]) -> None:
    for role in of_type(template, "AWS::IAM::Role").values():
        for policy in role["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Resource"] != "*", statement
                assert "*" not in statement["Resource"], statement


def test_a_function_gets_only_what_its_handler_names(code: dict[str, Any]) -> None:
    apple = statements(code, function_of(code, "apple-subscriptions-to-fetch:apple_update"))
    by_sid = {s["Sid"]: s["Resource"] for s in apple}
    # apple_update(body, subscriptions, apple_historical_subscriptions, app_store, receipts, clock)
    assert by_sid["Tables"] == [
        {"Fn::GetAtt": ["SubscriptionsTable", "Arn"]},
        {"Fn::Sub": "${SubscriptionsTable.Arn}/index/*"},
    ]
    assert by_sid["Outbox"] == [{"Fn::GetAtt": ["OutboxTable", "Arn"]}]
    historical = queue_id(code, "mobile-purchases-CODE-apple-historical-subscriptions")
    assert by_sid["SendToQueues"] == [{"Fn::GetAtt": [historical, "Arn"]}]
    fetch = queue_id(code, "mobile-purchases-CODE-apple-subscriptions-to-fetch")
    assert by_sid["ConsumeQueues"] == [{"Fn::GetAtt": [fetch, "Arn"]}]
    assert set(by_sid) == {"Logs", "Configuration", "Tables", "Outbox", "SendToQueues", "ConsumeQueues"}
    # Another account's queue: on the ARN parameter, for the handlers that name it.
    soft_opt_in = {s["Sid"]: s for s in statements(code, function_of(code, "user-subscriptions-soft-opt-in"))}
    assert soft_opt_in["SendToOtherAccounts"]["Action"] == ["sqs:SendMessage"]
    assert {r["Ref"] for r in soft_opt_in["SendToOtherAccounts"]["Resource"]} == {
        "SoftOptInConsentSetterQueueArn",
        "BrazeEmailsArn",
    }
    assert soft_opt_in["TriggerStream"]["Resource"] == [
        {"Fn::GetAtt": ["UserSubscriptionsTable", "StreamArn"]}
    ]
    retry = queue_id(code, "mobile-purchases-CODE-user-subscriptions-soft-opt-in-retry")
    assert soft_opt_in["FailedBatches"]["Resource"] == [{"Fn::GetAtt": [retry, "Arn"]}]
    assert soft_opt_in["ConsumeQueues"]["Resource"] == [{"Fn::GetAtt": [retry, "Arn"]}]
    # Only the handlers with export_targets / objects reach the bucket.
    for function in of_type(code, "AWS::Lambda::Function").values():
        sf_function = function["Environment"]["Variables"]["SF_FUNCTION"]
        sids = {s["Sid"] for s in statements(code, function_of(code, sf_function))}
        assert ("ExportBucketObjects" in sids) == (
            sf_function.startswith("export_") or sf_function == "google_oauth"
        ), sf_function


def test_the_ssm_prefix_is_the_only_configuration(template: dict[str, Any]) -> None:
    stage = template["Metadata"]["supporterflow"]["stage"]
    secret_variables = {
        "SF_" + name.upper()
        for name, info in Settings.model_fields.items()
        if "SecretStr" in str(info.annotation) or info.annotation in (SecretStr, SecretStr | None)
    }
    assert {"SF_APPLE_SHARED_SECRET", "SF_IDENTITY_HASH_KEY", "SF_ADMIN_API_KEYS"} <= secret_variables
    for function in of_type(template, "AWS::Lambda::Function").values():
        variables = function["Environment"]["Variables"]
        assert set(variables) <= ENVIRONMENT_KEYS
        assert variables["SF_SSM_PREFIX"] == f"/{APP}/{stage}/"
        assert function["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    text = json.dumps(template)
    assert not any(variable in text for variable in secret_variables)
    assert set(template["Parameters"]) == {
        "Stage",
        "CodeBucket",
        "CodeKey",
        "AlarmTopicArn",
        "ExportBucketName",
        "SoftOptInConsentSetterQueueArn",
        "BrazeEmailsArn",
    }
    assert template["Parameters"]["Stage"]["AllowedValues"] == ["CODE", "PROD"]


@pytest.mark.parametrize(
    ("cron", "aws"),
    [
        ("3 0 * * *", "cron(3 0 * * ? *)"),
        ("*/15 * * * *", "cron(*/15 * * * ? *)"),
        ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)"),
        ("0 0 * * 0", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 5-7", "cron(0 0 ? * 6-7,1 *)"),
        ("0 0 * * 1#2", "cron(0 0 ? * 2#2 *)"),
        ("30 6 * * MON,fri", "cron(30 6 ? * MON,FRI *)"),
        ("0 12 1 * *", "cron(0 12 1 * ? *)"),
        ("@daily", "cron(0 0 * * ? *)"),
    ],
)
def test_cron_becomes_eventbridge_form(cron: str, aws: str) -> None:
    assert aws_cron(cron) == aws


def test_what_eventbridge_cannot_run_is_refused() -> None:
    with pytest.raises(ValueError, match="both the day of the month and of the week"):
        aws_cron("0 0 1 * 1")
    with pytest.raises(ValueError, match="five-field"):
        aws_cron("0 0 * *")
    with pytest.raises(ValueError, match="whole minutes"):
        schedule_expression(Every(90, apple_update))


def test_rates() -> None:
    assert schedule_expression(Every(6 * 3600, apple_update)) == "rate(6 hours)"
    assert schedule_expression(Every(60, apple_update)) == "rate(1 minute)"
    assert schedule_expression(Every(86400, apple_update)) == "rate(1 day)"
    assert schedule_expression(Cron("3 0 * * *", apple_update)) == "cron(3 0 * * ? *)"


def test_synth_writes_the_template(tmp_path: Path) -> None:
    result = CliRunner().invoke(deploy_app, ["synth", "--stage", "PROD", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    template = json.loads((tmp_path / "supporterflow-PROD.template.json").read_text())
    assert check_against(TOPOLOGY, template) == []
    assert "functions" in result.output
    assert "alarms" in result.output
