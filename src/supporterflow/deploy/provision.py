"""Create the template's tables, queues and buckets directly through the AWS APIs.

For a moto server or LocalStack in development and tests: the same resources CloudFormation would
create from ``synthesize``, so that the runtime is tested against the very tables and queues the
template declares. Functions, roles, schedules and alarms are left out (they need a real
account). Meant for an empty account: a resource that exists already is an error.
"""

from __future__ import annotations

from typing import Any

from supporterflow.deploy.cloudformation import Template

_STREAM_VIEW = "StreamViewType"


def _value(value: Any, parameters: dict[str, str]) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        return parameters[value["Ref"]]
    return value


def provision(
    template: Template, *, dynamodb: Any, sqs: Any, s3: Any, parameters: dict[str, str]
) -> list[str]:
    """Create what the template declares of tables, queues (DLQs first) and buckets; returns
    their names. ``parameters`` gives the template parameters the names refer to."""
    resources: dict[str, dict[str, Any]] = template["Resources"]
    created: list[str] = []
    for resource in resources.values():
        if resource["Type"] == "AWS::DynamoDB::Table":
            created.append(_table(dynamodb, resource["Properties"]))
    arns: dict[str, str] = {}
    queues = {logical: r["Properties"] for logical, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    # A queue's redrive names its DLQ: create those first.
    for logical, properties in sorted(queues.items(), key=lambda item: "RedrivePolicy" in item[1]):
        attributes = {
            name: str(properties[name])
            for name in ("VisibilityTimeout", "MessageRetentionPeriod")
            if name in properties
        }
        if "RedrivePolicy" in properties:
            policy = properties["RedrivePolicy"]
            target = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = (
                f'{{"deadLetterTargetArn": "{arns[target]}", "maxReceiveCount": {policy["maxReceiveCount"]}}}'
            )
        url = sqs.create_queue(QueueName=properties["QueueName"], Attributes=attributes)["QueueUrl"]
        arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        created.append(properties["QueueName"])
    for resource in resources.values():
        if resource["Type"] == "AWS::S3::Bucket":
            bucket = _value(resource["Properties"]["BucketName"], parameters)
            region = s3.meta.region_name
            options = (
                {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=bucket, **options)
            created.append(bucket)
    return created


def _table(dynamodb: Any, properties: dict[str, Any]) -> str:
    name: str = properties["TableName"]
    arguments: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if "GlobalSecondaryIndexes" in properties:
        arguments["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    if "StreamSpecification" in properties:
        arguments["StreamSpecification"] = {
            "StreamEnabled": True,
            _STREAM_VIEW: properties["StreamSpecification"][_STREAM_VIEW],
        }
    dynamodb.create_table(**arguments)
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True}
        )
    return name
