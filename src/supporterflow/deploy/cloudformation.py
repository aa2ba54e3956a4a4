"""The CloudFormation template of the AWS runtime, synthesised from the topology.

Nothing here names a table, queue, consumer, subscription or schedule of its own: each resource
comes from a declaration of ``topology.py``, so the template cannot disagree with the local
runtime (``check_against`` proves it for a given template). The few resources that only the AWS
runtime has are the ``api`` function (the HTTP app behind an HTTP API), the outbox table with its
``outbox-relay`` function and that function's dead-letter queue, and the export bucket.

Functions. One Lambda function per consumer, stream subscription and schedule, plus ``api`` and
``outbox-relay``; all run ``supporterflow.entrypoints.aws_lambda`` (``http``, ``consumer``,
``stream``, ``schedule``, ``outbox_relay``), which dispatches on ``SF_FUNCTION`` (the topology's
name of the consumer, subscription or schedule). A stream subscription's function also consumes
its retry queue: the event source mapping's on-failure destination writes the failed batch's
stream coordinates there (not the records), and the handler reads the records back from the
stream (``GetShardIterator`` + ``GetRecords``, within the stream's 24 hours).

Memory and timeouts (``_SIZES``) follow spec §11.2 where an original function corresponds; AWS
refuses an SQS trigger whose queue's visibility timeout is shorter than the function's timeout,
so a function's timeout is clamped to the visibility of every queue that triggers it (the stream
functions therefore get 60 s, their retry queues' visibility, instead of the original's 600 s).

Permissions. One role per function, derived from its handlers' parameter names (``python_name``
of a table or queue, as ``bootstrap`` injects them):

* a named table: item reads and writes (``GetItem``, ``BatchGetItem``, ``Query``, ``Scan``,
  ``PutItem``, ``UpdateItem``, ``DeleteItem``, ``BatchWriteItem``, ``ConditionCheckItem`` --
  transactions are authorised per item, there is no ``TransactWriteItems`` action) on the table
  and its indexes; ``PutItem`` on the outbox table for every function that names a table (the
  DynamoDB adapter writes a row and its messages in one transaction);
* a named queue: ``SendMessage``; the queues that trigger the function: receive, delete, change
  visibility; a schedule may also drain a named queue that no consumer consumes (the soft opt-in
  holding queue, the historical snapshot queues); ``queues`` (the HTTP app's GDPR erasure and
  admin dashboard: depths, DLQ replay and purge): every queue of the template;
* a named external queue (another account's): ``SendMessage`` on the ARN given as a parameter
  (that queue's policy must admit the role);
* ``export_targets`` or ``objects``: the export bucket;
* the trigger stream: ``DescribeStream``, ``GetRecords``, ``GetShardIterator``, ``ListStreams``,
  and ``SendMessage`` on the mapping's on-failure destination (the retry queue; the outbox
  relay's DLQ), which Lambda sends with the function's role;
* all: ``ssm:GetParameter(s)(ByPath)`` under ``/<app>/<stage>/`` and writing to the function's
  own log group (created here, so ``logs:CreateLogGroup`` is not needed).

No statement has ``"Resource": "*"`` (``WILDCARD_RESOURCE_ACTIONS`` is empty).

Secrets. None is in the template. A function's environment holds only the keys of
``ENVIRONMENT_KEYS``: ``SF_PROFILE``, ``SF_APP``, ``SF_STAGE``, ``SF_FUNCTION``, ``SF_SSM_PREFIX``
(settings and secrets are read from SSM Parameter Store under that prefix at cold start),
``SF_EXPORT_OUT`` (``s3://<export bucket>``, for handlers with ``export_targets``/``objects``) and
``SF_EXTERNAL_QUEUE_URLS`` (a JSON object, external queue name -> URL, from the ARN parameters).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from supporterflow.declare import (
    Cron,
    Handler,
    Index,
    OnChange,
    QueueDef,
    Schedule,
    TableDef,
    Topology,
    physical_name,
    python_name,
)
from supporterflow.functions.apple_offers import apple_fetch_offer_details
from supporterflow.functions.apple_pubsub import apple_pubsub
from supporterflow.functions.apple_status import apple_subscription_status
from supporterflow.functions.gdpr_erase import gdpr_erase
from supporterflow.functions.google_pubsub import google_pubsub
from supporterflow.functions.google_status import google_subscription_status
from supporterflow.functions.link import link_apple_subscriptions, link_google_subscriptions
from supporterflow.functions.supporter_produce import supporter_produce
from supporterflow.functions.user_subscriptions import user_subscriptions

Template = dict[str, Any]
Kind = Literal["http", "consumer", "stream", "schedule", "outbox_relay"]

HANDLER_MODULE = "supporterflow.entrypoints.aws_lambda"
RUNTIME = "python3.11"
STAGES = ("CODE", "PROD")

API = "api"
OUTBOX = "outbox"
OUTBOX_RELAY = "outbox-relay"
OUTBOX_RELAY_DLQ = "outbox-relay-dlq"
LEASES = "leases"  # adapters/aws/leases.py
STREAM_CHECKPOINTS = "stream-checkpoints"  # adapters/aws/streams.py
_LEASES_PARAMETER = "leases"

ENVIRONMENT_KEYS = frozenset(
    {
        "SF_PROFILE",
        "SF_APP",
        "SF_STAGE",
        "SF_FUNCTION",
        "SF_SSM_PREFIX",
        "SF_EXPORT_OUT",
        "SF_EXTERNAL_QUEUE_URLS",
    }
)
# Actions that AWS only authorises on "*": none is needed.
WILDCARD_RESOURCE_ACTIONS: frozenset[str] = frozenset()

# What the HTTP app calls (entrypoints/http): its role is derived from these signatures.
HTTP_HANDLERS: tuple[Handler, ...] = (
    apple_pubsub,
    google_pubsub,
    apple_subscription_status,
    google_subscription_status,
    apple_fetch_offer_details,
    link_apple_subscriptions,
    link_google_subscriptions,
    user_subscriptions,
    supporter_produce,
    gdpr_erase,
)
# Parameters the HTTP app binds to one of several queues, route by route.
_ALIASES = {
    "subscriptions_to_fetch": (
        "apple-subscriptions-to-fetch",
        "feast-apple-subscriptions-to-fetch",
        "google-subscriptions-to-fetch",
        "feast-google-subscriptions-to-fetch",
    )
}
_ALL_QUEUES = "queues"
_BUCKET_PARAMETERS = frozenset({"export_targets", "objects"})

# (memory MB, timeout s) by handler name; spec §11.2 where an original function corresponds.
_SIZES: dict[str, tuple[int, int]] = {
    # The whole HTTP app in one function: more memory for a faster cold start (Lambda gives CPU
    # in proportion); 29 s as the original's API Gateway limit.
    API: (1024, 29),
    OUTBOX_RELAY: (256, 60),
    # update-subscriptions: 512 MB / 25 s.
    "apple_update": (512, 25),
    "feast_apple_update": (512, 25),
    "google_update": (512, 25),
    "feast_google_update": (512, 25),
    # feast-*-acquisition-events: 1024 MB / 300 s.
    "feast_apple_acquisition": (1024, 300),
    "feast_google_acquisition": (1024, 300),
    # No original: a user-service call then one ERPNext call per document, 10 s each at most.
    "supporter_consume": (512, 60),
    # delete-user-subscription, soft-opt-in-acquisitions 512 MB / 600 s; router 512 MB / 60 s
    # (clamped to the retry queues' 60 s visibility).
    "delete_links": (512, 600),
    "soft_opt_in": (512, 600),
    "feast_acquisition_router": (512, 60),
    "apple_revalidate": (2048, 180),
    "google_oauth": (512, 45),
    "soi_dlq": (512, 600),
    # The exports stream rows and convert Parquet in a second process: 2048 MB is more than one
    # vCPU (the original's 10 GB / 8 GB full-scan exports held everything in memory).
    "export_subscription_events": (2048, 900),
    "export_subscriptions": (2048, 900),
    "export_user_subscriptions": (2048, 900),
    "export_apple_historical": (2048, 900),
    "export_google_historical": (2048, 900),
}
_DEFAULT_SIZES: dict[Kind, tuple[int, int]] = {
    "http": (1024, 29),
    "consumer": (512, 60),
    "stream": (512, 60),
    "schedule": (512, 300),
    "outbox_relay": (256, 60),
}

_LOG_RETENTION_DAYS = 30
_DLQ_RETENTION_S = 14 * 24 * 3600
# Longer than SQS's 4-day default (an export outage over a long weekend loses no snapshot,
# spec §13.4) and shorter than the DLQs', so a dead letter always has a week to be replayed.
_QUEUE_RETENTION_S = 7 * 24 * 3600
_ITERATOR_AGE_MS = 10 * 60 * 1000

_DYNAMODB_ITEM_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
]
_STREAM_ACTIONS = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
]
_SEND_ACTIONS = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]
_CONSUME_ACTIONS = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ReceiveMessage",
]
_MANAGE_ACTIONS = sorted({*_SEND_ACTIONS, *_CONSUME_ACTIONS, "sqs:PurgeQueue"})
_BUCKET_OBJECT_ACTIONS = [
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
]

_CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


# --- names -------------------------------------------------------------------------------------


def logical_id(*names: str) -> str:
    """``("apple-subscriptions-to-fetch", "queue")`` -> ``AppleSubscriptionsToFetchQueue``."""
    words: list[str] = []
    for word in (w for name in names for w in re.split(r"[^A-Za-z0-9]+", name) if w):
        if not words or words[-1].lower() != word.lower():  # ...-queue + queue: one Queue
            words.append(word)
    return "".join(word[0].upper() + word[1:] for word in words)


def function_name(app: str, stage: str, key: str) -> str:
    """``<app>-<stage>-<key>``, shortened with a hash to Lambda's 64 characters."""
    name = f"{app}-{stage}-{key}"
    if len(name) <= 64:
        return name
    return f"{name[:55]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def external_parameter(queue: QueueDef) -> str:
    return logical_id(queue.name, "arn")


# --- schedules ---------------------------------------------------------------------------------


def aws_cron(expression: str) -> str:
    """A five-field cron expression as EventBridge's six-field form: ``"3 0 * * *"`` ->
    ``"cron(3 0 * * ? *)"``. EventBridge needs ``?`` in one of day-of-month and day-of-week and
    numbers the days of the week 1 (Sunday) to 7, where cron has 0 (or 7) to 6."""
    fields = _CRON_MACROS.get(expression.strip(), expression).split()
    if len(fields) != 5:
        raise ValueError(f"not a five-field cron expression: {expression!r}")
    minute, hour, day_of_month, month, day_of_week = fields
    if day_of_week == "*":
        day_of_week = "?"
    elif day_of_month == "*":
        day_of_month = "?"
        day_of_week = _aws_days_of_week(day_of_week, expression)
    else:
        raise ValueError(
            f"{expression!r}: EventBridge cannot restrict both the day of the month and of the week"
        )
    return f"cron({minute} {hour} {day_of_month} {month} {day_of_week} *)"


def _aws_days_of_week(field_: str, expression: str) -> str:
    def day(token: str) -> str:
        weekday, hash_, nth = token.partition("#")  # 1#2: the second Monday
        if hash_:
            return f"{day(weekday)}#{nth}"
        if token.isdigit():
            number = int(token)
            if number > 7:
                raise ValueError(f"{expression!r}: no day of the week {number}")
            return str(number % 7 + 1)
        return token.upper()  # SUN..SAT are the same in both

    parts = []
    for item in field_.split(","):
        if "/" in item:
            raise ValueError(f"{expression!r}: EventBridge has no steps in the day of the week")
        low, dash, high = item.partition("-")
        if not dash:
            parts.append(day(low))
        elif high == "7" and low.isdigit():  # ...-Sunday: Sunday is 1 on EventBridge
            parts.extend([f"{day(low)}-7", "1"] if low != "6" else ["7", "1"])
        else:
            parts.append(f"{day(low)}-{day(high)}")
    return ",".join(parts)


def _written(schedule: Schedule) -> str:
    """As the topology writes it."""
    if isinstance(schedule, Cron):
        return f"cron {schedule.expression} (UTC)"
    return f"every {schedule.seconds:g} s"


def schedule_expression(schedule: Schedule) -> str:
    """``rate(...)`` for ``Every`` (whole minutes: EventBridge's granularity), ``cron(...)`` for
    ``Cron``."""
    if isinstance(schedule, Cron):
        return aws_cron(schedule.expression)
    seconds = schedule.seconds
    if seconds < 60 or seconds % 60:
        raise ValueError(f"schedule {schedule.name}: EventBridge runs whole minutes, not {seconds} s")
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = int(seconds // size)
            return f"rate({count} {unit}{'' if count == 1 else 's'})"
    raise AssertionError("unreachable")  # pragma: no cover


# --- the functions -----------------------------------------------------------------------------


@dataclass
class _Function:
    key: str  # in names: <app>-<stage>-<key>
    name: str  # SF_FUNCTION: the topology's name of what it runs
    kind: Kind
    handlers: tuple[Handler, ...]
    trigger_queues: list[QueueDef] = field(default_factory=list)
    trigger_table: str | None = None
    schedule: Schedule | None = None
    subscription: OnChange | None = None

    @property
    def logical(self) -> str:
        return logical_id(self.key)

    def size(self) -> tuple[int, int]:
        sized = next((_SIZES[h.__name__] for h in self.handlers if h.__name__ in _SIZES), None)
        memory, timeout = _SIZES.get(self.key) or sized or _DEFAULT_SIZES[self.kind]
        for queue in self.trigger_queues:
            timeout = min(timeout, queue.visibility_s)
        return memory, timeout

    def parameters(self) -> set[str]:
        return {name for h in self.handlers for name in inspect.signature(h).parameters}


def _dashed(handler: Handler) -> str:
    return python_name(handler.__name__).replace("_", "-")


def _functions(topology: Topology) -> list[_Function]:
    functions = [_Function(API, API, "http", HTTP_HANDLERS)]
    for consumer in topology.consumers:
        functions.append(
            _Function(
                _dashed(consumer.handler),
                consumer.name,
                "consumer",
                (consumer.handler,),
                trigger_queues=[topology.queue(consumer.queue)],
            )
        )
    for subscription in topology.streams:
        functions.append(
            _Function(
                _dashed(subscription.handler),
                subscription.name,
                "stream",
                (subscription.handler,),
                trigger_queues=[subscription.retry_queue],
                trigger_table=subscription.table,
                subscription=subscription,
            )
        )
    for schedule in topology.schedules:
        functions.append(
            _Function(
                _dashed(schedule.handler), schedule.name, "schedule", (schedule.handler,), schedule=schedule
            )
        )
    functions.append(_Function(OUTBOX_RELAY, OUTBOX_RELAY, "outbox_relay", (), trigger_table=OUTBOX))
    # A handler used twice (two queues, two tables) is named by what it runs instead.
    keys = [f.key for f in functions]
    for f in functions:
        if keys.count(f.key) > 1:
            f.key = f.name.replace(":", "-").replace("_", "-")
    if len({f.key for f in functions}) != len(functions):
        raise ValueError(f"two functions would have the same name: {sorted(keys)}")
    return functions


# --- the template ------------------------------------------------------------------------------


@dataclass
class _Synth:
    topology: Topology
    app: str
    stage: str
    resources: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tables = {t.name: t for t in self.topology.tables}
        self.queues = {q.name: q for q in self.topology.all_queues()}
        self.dlqs = {q.dlq_name for q in self.topology.all_queues() if q.dlq_name}
        self.consumed = {c.queue for c in self.topology.consumers}
        self.functions = _functions(self.topology)

    def add(self, logical: str, resource: dict[str, Any]) -> None:
        if logical in self.resources:
            raise ValueError(f"two resources would be {logical}")
        self.resources[logical] = resource

    def tags(self) -> list[dict[str, str]]:
        return [{"Key": "App", "Value": self.app}, {"Key": "Stage", "Value": self.stage}]

    def prefix(self) -> str:
        return f"/{self.app}/{self.stage}/"

    # Tables

    def table(self, definition: TableDef) -> None:
        keys = [definition.hash_key, *([definition.sort_key] if definition.sort_key else [])]
        attributes = list(keys)
        for index in definition.indexes.values():
            for key in (index.hash_key, index.sort_key):
                if key and key not in attributes:
                    attributes.append(key)
        properties: dict[str, Any] = {
            "TableName": definition.physical_name(self.app, self.stage),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
            "KeySchema": _key_schema(definition.hash_key, definition.sort_key),
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "DeletionProtectionEnabled": True,
            "Tags": self.tags(),
        }
        if definition.indexes:
            properties["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": name,
                    "KeySchema": _key_schema(index.hash_key, index.sort_key),
                    "Projection": _projection(index),
                }
                for name, index in definition.indexes.items()
            ]
        if definition.ttl_attribute:
            properties["TimeToLiveSpecification"] = {
                "AttributeName": definition.ttl_attribute,
                "Enabled": True,
            }
        if definition.stream:
            properties["StreamSpecification"] = {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        self.add(logical_id(definition.name, "table"), _retained("AWS::DynamoDB::Table", properties))

    def outbox(self) -> None:
        properties = {
            "TableName": physical_name(OUTBOX, None, self.app, self.stage),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": _key_schema("id", None),
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
            "SSESpecification": {"SSEEnabled": True},
            "Tags": self.tags(),
        }
        self.add(logical_id(OUTBOX, "table"), _retained("AWS::DynamoDB::Table", properties))

    def coordination_tables(self) -> None:
        """The leases (and schedule state) of ``serve --profile aws`` and the historical drains,
        and the stream checkpoints of ``serve --profile aws`` (Lambda's event source mappings keep
        their own)."""
        for name, keys, ttl in (
            (LEASES, ("name", None), "ttl"),
            (STREAM_CHECKPOINTS, ("subscriber", "shard"), "expiresAt"),
        ):
            hash_key, sort_key = keys
            attributes = [hash_key] + ([sort_key] if sort_key else [])
            properties = {
                "TableName": physical_name(name, None, self.app, self.stage),
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
                "KeySchema": _key_schema(hash_key, sort_key),
                "TimeToLiveSpecification": {"AttributeName": ttl, "Enabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "Tags": self.tags(),
            }
            self.add(logical_id(name, "table"), _retained("AWS::DynamoDB::Table", properties))

    # Queues

    def queue(self, definition: QueueDef) -> None:
        if definition.external:
            return
        is_dlq = definition.name in self.dlqs
        properties: dict[str, Any] = {
            "QueueName": definition.physical_name(self.app, self.stage),
            "VisibilityTimeout": definition.visibility_s,
            "KmsMasterKeyId": "alias/aws/sqs",
            "MessageRetentionPeriod": _DLQ_RETENTION_S
            if is_dlq or not definition.dlq
            else _QUEUE_RETENTION_S,
            "Tags": self.tags(),
        }
        if definition.dlq_name:
            properties["RedrivePolicy"] = {
                "deadLetterTargetArn": _arn(logical_id(definition.dlq_name, "queue")),
                "maxReceiveCount": definition.max_receives,
            }
        self.add(logical_id(definition.name, "queue"), _retained("AWS::SQS::Queue", properties))

    def relay_dlq(self) -> None:
        properties = {
            "QueueName": physical_name(OUTBOX_RELAY_DLQ, None, self.app, self.stage),
            "KmsMasterKeyId": "alias/aws/sqs",
            "MessageRetentionPeriod": _DLQ_RETENTION_S,
            "Tags": self.tags(),
        }
        self.add(logical_id(OUTBOX_RELAY_DLQ, "queue"), _retained("AWS::SQS::Queue", properties))

    # Functions

    def named(self, function: _Function) -> tuple[list[TableDef], list[QueueDef], bool]:
        """The tables and queues a function's handlers name, and whether it names them all."""
        parameters = function.parameters()
        tables = [t for t in self.topology.tables if python_name(t.name) in parameters]
        queue_names = {q.name for q in self.queues.values() if python_name(q.name) in parameters}
        for parameter, aliases in _ALIASES.items():
            if parameter in parameters:
                queue_names.update(name for name in aliases if name in self.queues)
        queues = [q for q in self.queues.values() if q.name in queue_names]
        return tables, queues, _ALL_QUEUES in parameters

    def environment(self, function: _Function, externals: list[QueueDef]) -> dict[str, Any]:
        variables: dict[str, Any] = {
            "SF_PROFILE": "aws",
            "SF_APP": self.app,
            "SF_STAGE": self.stage,
            "SF_FUNCTION": function.name,
            "SF_SSM_PREFIX": self.prefix(),
        }
        if function.parameters() & _BUCKET_PARAMETERS:
            variables["SF_EXPORT_OUT"] = {"Fn::Sub": "s3://${ExportBucketName}"}
        if externals:
            parts: list[Any] = ["{"]
            for i, queue in enumerate(externals):
                split = {"Fn::Split": [":", {"Ref": external_parameter(queue)}]}
                parts += [
                    ", " if i else "",
                    json.dumps(queue.name) + ': "https://sqs.',
                    {"Fn::Select": [3, split]},
                    ".amazonaws.com/",
                    {"Fn::Select": [4, split]},
                    "/",
                    {"Fn::Select": [5, split]},
                    '"',
                ]
            parts.append("}")
            variables["SF_EXTERNAL_QUEUE_URLS"] = {"Fn::Join": ["", parts]}
        return variables

    def statements(self, function: _Function, relayed: list[QueueDef]) -> list[dict[str, Any]]:
        tables, queues, all_queues = self.named(function)
        statements = [
            _allow(
                "Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [_arn(function.logical + "LogGroup")]
            ),
            _allow(
                "Configuration",
                ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                [
                    _sub(f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{p}")
                    for p in (self.prefix().rstrip("/"), self.prefix() + "*")
                ],
            ),
        ]
        if tables:
            resources: list[Any] = []
            for table in tables:
                table_id = logical_id(table.name, "table")
                resources += [_arn(table_id), _sub(f"${{{table_id}.Arn}}/index/*")]
            statements.append(_allow("Tables", _DYNAMODB_ITEM_ACTIONS, resources))
            statements.append(_allow("Outbox", ["dynamodb:PutItem"], [_arn(logical_id(OUTBOX, "table"))]))
        if _LEASES_PARAMETER in function.parameters():
            statements.append(
                _allow(
                    "Leases",
                    ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
                    [_arn(logical_id(LEASES, "table"))],
                )
            )
        if function.subscription is not None:  # the stream mapping's on-failure destination
            retry = self.queue_arns([function.subscription.retry_queue])
            statements.append(_allow("FailedBatches", ["sqs:SendMessage"], retry))
        if function.trigger_table:
            stream = {"Fn::GetAtt": [logical_id(function.trigger_table, "table"), "StreamArn"]}
            statements.append(_allow("TriggerStream", _STREAM_ACTIONS, [stream]))
        internal = [q for q in queues if not q.external]
        external = [q for q in queues if q.external]
        if function.kind == "outbox_relay":
            internal = [q for q in relayed if not q.external]
            external = [q for q in relayed if q.external]
            statements.append(
                _allow("FailedBatches", ["sqs:SendMessage"], [_arn(logical_id(OUTBOX_RELAY_DLQ, "queue"))])
            )
        if all_queues:
            everything = [q for q in self.queues.values() if not q.external]
            statements.append(_allow("ManageQueues", _MANAGE_ACTIONS, self.queue_arns(everything)))
        else:
            if internal:
                statements.append(_allow("SendToQueues", _SEND_ACTIONS, self.queue_arns(internal)))
            consumed = list(function.trigger_queues)
            if function.kind == "schedule":
                consumed += [q for q in internal if q.name not in self.consumed]
            if consumed:
                statements.append(_allow("ConsumeQueues", _CONSUME_ACTIONS, self.queue_arns(consumed)))
        if external:
            refs = [{"Ref": external_parameter(q)} for q in external]
            statements.append(_allow("SendToOtherAccounts", ["sqs:SendMessage"], refs))
        if function.parameters() & _BUCKET_PARAMETERS:
            statements.append(_allow("ExportBucketList", ["s3:ListBucket"], [_arn("ExportBucket")]))
            statements.append(
                _allow("ExportBucketObjects", _BUCKET_OBJECT_ACTIONS, [_sub("${ExportBucket.Arn}/*")])
            )
        return statements

    def queue_arns(self, queues: Iterable[QueueDef]) -> list[Any]:
        arns: list[Any] = []
        for q in queues:
            arn = _arn(logical_id(q.name, "queue"))
            if arn not in arns:
                arns.append(arn)
        return arns

    def function(self, function: _Function, relayed: list[QueueDef]) -> None:
        memory, timeout = function.size()
        name = function_name(self.app, self.stage, function.key)
        _, queues, _ = self.named(function)
        externals = [q for q in queues if q.external]
        logical = function.logical
        self.add(
            logical + "LogGroup",
            {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": f"/aws/lambda/{name}", "RetentionInDays": _LOG_RETENTION_DAYS},
            },
        )
        self.add(
            logical + "Role",
            {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Description": f"{name}: what its handlers name, and no more",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "access",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": self.statements(function, relayed),
                            },
                        }
                    ],
                    "Tags": self.tags(),
                },
            },
        )
        self.add(
            logical + "Function",
            {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": name,
                    "Description": f"supporterflow {function.kind} {function.name}",
                    "Runtime": RUNTIME,
                    "Handler": f"{HANDLER_MODULE}.{function.kind}",  # kinds are the entry points
                    "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
                    "MemorySize": memory,
                    "Timeout": timeout,
                    "Role": _arn(logical + "Role"),
                    "Environment": {"Variables": self.environment(function, externals)},
                    "LoggingConfig": {"LogGroup": {"Ref": logical + "LogGroup"}},
                    "Tags": self.tags(),
                },
            },
        )
        for queue in function.trigger_queues:
            self.add(
                logical + logical_id(queue.name) + "Mapping",
                {
                    "Type": "AWS::Lambda::EventSourceMapping",
                    "Properties": {
                        "EventSourceArn": _arn(logical_id(queue.name, "queue")),
                        "FunctionName": {"Ref": logical + "Function"},
                        "BatchSize": self.batch_size(function),
                        "MaximumBatchingWindowInSeconds": 1,
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    },
                },
            )
        if function.subscription is not None:
            self.stream_mapping(function, function.subscription)
        if function.kind == "outbox_relay":
            self.relay_mapping(function)
        if function.schedule is not None:
            self.rule(function, function.schedule)
        if function.kind == "http":
            self.http_api(function)
        self.alarms(function, name)

    def batch_size(self, function: _Function) -> int:
        consumer = next(
            (c for c in self.topology.consumers if c.name == function.name), None
        )  # a retry queue is consumed ten at a time
        return consumer.batch_size if consumer else 10

    def stream_mapping(self, function: _Function, subscription: OnChange) -> None:
        retry = subscription.retry_queue
        self.add(
            function.logical + "StreamMapping",
            {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": [logical_id(subscription.table, "table"), "StreamArn"]},
                    "FunctionName": {"Ref": function.logical + "Function"},
                    "StartingPosition": "LATEST",
                    "BatchSize": subscription.batch_size,
                    "BisectBatchOnFunctionError": True,
                    # Retries after the first failure: max_attempts failures in a row in all.
                    "MaximumRetryAttempts": subscription.max_attempts - 1,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "DestinationConfig": {
                        "OnFailure": {"Destination": _arn(logical_id(retry.name, "queue"))}
                    },
                    "FilterCriteria": {
                        "Filters": [{"Pattern": json.dumps({"eventName": sorted(subscription.events)})}]
                    },
                },
            },
        )

    def relay_mapping(self, function: _Function) -> None:
        self.add(
            function.logical + "StreamMapping",
            {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {
                    "EventSourceArn": {"Fn::GetAtt": [logical_id(OUTBOX, "table"), "StreamArn"]},
                    "FunctionName": {"Ref": function.logical + "Function"},
                    # Rows written before the mapping existed are messages too.
                    "StartingPosition": "TRIM_HORIZON",
                    "BatchSize": 100,
                    "BisectBatchOnFunctionError": True,
                    "MaximumRetryAttempts": 10,
                    "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    "DestinationConfig": {
                        "OnFailure": {"Destination": _arn(logical_id(OUTBOX_RELAY_DLQ, "queue"))}
                    },
                    "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"eventName": ["INSERT"]})}]},
                },
            },
        )

    def rule(self, function: _Function, schedule: Schedule) -> None:
        logical = function.logical
        self.add(
            logical + "Schedule",
            {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Description": f"{schedule.name}: {_written(schedule)}",
                    "ScheduleExpression": schedule_expression(schedule),
                    "State": "ENABLED",
                    "Targets": [{"Id": "function", "Arn": _arn(logical + "Function")}],
                },
            },
        )
        self.add(
            logical + "SchedulePermission",
            {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Ref": logical + "Function"},
                    "Principal": "events.amazonaws.com",
                    "SourceArn": _arn(logical + "Schedule"),
                },
            },
        )

    def http_api(self, function: _Function) -> None:
        logical = function.logical
        self.add(
            "HttpApi",
            {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {
                    "Name": f"{self.app}-{self.stage}",
                    "ProtocolType": "HTTP",
                    "Description": "supporterflow HTTP app (store notifications, links, status, admin)",
                },
            },
        )
        self.add(
            "HttpApiIntegration",
            {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "HttpApi"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": _arn(logical + "Function"),
                    "PayloadFormatVersion": "2.0",
                    "TimeoutInMillis": 30000,
                },
            },
        )
        self.add(
            "HttpApiDefaultRoute",
            {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "HttpApi"},
                    "RouteKey": "$default",
                    "Target": _sub("integrations/${HttpApiIntegration}"),
                },
            },
        )
        self.add(
            "HttpApiDefaultStage",
            {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {"ApiId": {"Ref": "HttpApi"}, "StageName": "$default", "AutoDeploy": True},
            },
        )
        self.add(
            "HttpApiPermission",
            {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "FunctionName": {"Ref": logical + "Function"},
                    "Principal": "apigateway.amazonaws.com",
                    "SourceArn": _sub(
                        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*"
                    ),
                },
            },
        )

    # Alarms

    def alarm(self, logical: str, name: str, description: str, properties: dict[str, Any]) -> None:
        self.add(
            logical,
            {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": name,
                    "AlarmDescription": description,
                    "ActionsEnabled": True,
                    "AlarmActions": [{"Ref": "AlarmTopicArn"}],
                    "TreatMissingData": "notBreaching",
                    "EvaluationPeriods": 1,
                    "Period": 300,
                    **properties,
                },
            },
        )

    def alarms(self, function: _Function, name: str) -> None:
        dimensions = [{"Name": "FunctionName", "Value": {"Ref": function.logical + "Function"}}]
        self.alarm(
            function.logical + "ErrorsAlarm",
            f"{name}-errors",
            f"{function.name} failed at least once in 5 minutes",
            {
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": dimensions,
                "Statistic": "Sum",
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            },
        )
        if function.trigger_table:
            self.alarm(
                function.logical + "IteratorAgeAlarm",
                f"{name}-iterator-age",
                f"{function.name} is more than 10 minutes behind its stream",
                {
                    "Namespace": "AWS/Lambda",
                    "MetricName": "IteratorAge",
                    "Dimensions": dimensions,
                    "Statistic": "Maximum",
                    "Threshold": _ITERATOR_AGE_MS,
                    "ComparisonOperator": "GreaterThanThreshold",
                },
            )

    def dlq_alarm(self, queue_name: str, physical: str) -> None:
        queue_id = logical_id(queue_name, "queue")
        self.alarm(
            logical_id(queue_name, "not", "empty", "alarm"),
            f"{physical}-not-empty",
            f"{physical} has dead letters: list and replay them (supporterflow dlq, /admin)",
            {
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
                "Statistic": "Maximum",
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
            },
        )

    def bucket(self) -> None:
        self.add(
            "ExportBucket",
            _retained(
                "AWS::S3::Bucket",
                {
                    "BucketName": {"Ref": "ExportBucketName"},
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "VersioningConfiguration": {"Status": "Enabled"},
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                    "LifecycleConfiguration": {
                        "Rules": [
                            {
                                "Id": "abort-incomplete-multipart-uploads",
                                "Status": "Enabled",
                                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                            }
                        ]
                    },
                    "Tags": self.tags(),
                },
            ),
        )

    def relayed(self) -> list[QueueDef]:
        """What can reach the outbox: the queues named by the functions that name a table (the
        HTTP app's admin and erasure work on ``queues`` directly, not through the outbox)."""
        relayed: dict[str, QueueDef] = {}
        for function in self.functions:
            tables, queues, _ = self.named(function)
            if tables:
                relayed.update((q.name, q) for q in queues)
        return list(relayed.values())

    def parameters(self) -> dict[str, Any]:
        parameters: dict[str, Any] = {
            "Stage": {
                "Type": "String",
                "AllowedValues": list(STAGES),
                "Default": self.stage,
                "Description": f"The stage: this template is for {self.stage} (see Rules)",
            },
            "CodeBucket": {"Type": "String", "Description": "S3 bucket of the Lambda bundle"},
            "CodeKey": {"Type": "String", "Description": "S3 key of the Lambda bundle (zip)"},
            "AlarmTopicArn": {"Type": "String", "Description": "SNS topic the alarms notify"},
            "ExportBucketName": {
                "Type": "String",
                "Description": "Datalake export bucket (created by this stack, kept when it is deleted)",
            },
        }
        for queue in self.queues.values():
            if queue.external:
                parameters[external_parameter(queue)] = {
                    "Type": "String",
                    "AllowedPattern": r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$",
                    "Description": f"ARN of {queue.physical_name(self.app, self.stage)} (another account's)",
                }
        return parameters

    def template(self) -> Template:
        for table in self.topology.tables:
            self.table(table)
        self.outbox()
        self.coordination_tables()
        for queue in self.queues.values():
            self.queue(queue)
        self.relay_dlq()
        for dlq in sorted(self.dlqs):
            self.dlq_alarm(dlq, self.queues[dlq].physical_name(self.app, self.stage))
        self.dlq_alarm(OUTBOX_RELAY_DLQ, physical_name(OUTBOX_RELAY_DLQ, None, self.app, self.stage))
        self.bucket()
        relayed = self.relayed()
        for function in self.functions:
            self.function(function, relayed)
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"supporterflow {self.app} {self.stage}: synthesised from the topology",
            "Metadata": {"supporterflow": {"app": self.app, "stage": self.stage}},
            "Parameters": self.parameters(),
            "Rules": {
                "StageOfThisTemplate": {
                    "Assertions": [
                        {
                            "Assert": {"Fn::Equals": [{"Ref": "Stage"}, self.stage]},
                            "AssertDescription": f"this template was synthesised for {self.stage}",
                        }
                    ]
                }
            },
            "Resources": self.resources,
            "Outputs": {
                "ApiUrl": {
                    "Description": "Base URL of the HTTP app",
                    "Value": {"Fn::GetAtt": ["HttpApi", "ApiEndpoint"]},
                }
            },
        }


def synthesize(topology: Topology, *, app: str, stage: str) -> Template:
    """The CloudFormation template (a JSON-able dict) of ``topology`` for ``app`` and ``stage``."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: one of {', '.join(STAGES)}")
    return _Synth(topology, app, stage).template()


def _projection(index: Index) -> dict[str, Any]:
    if index.projection is None:
        return {"ProjectionType": "ALL"}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.projection)}


def _key_schema(hash_key: str, sort_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if sort_key:
        schema.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    return schema


def _retained(kind: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Adopting an existing deployment, or deleting the stack, never deletes data."""
    return {
        "Type": kind,
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def _arn(logical: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical, "Arn"]}


def _sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def _allow(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}


# --- agreement ---------------------------------------------------------------------------------


def check_against(topology: Topology, template: Template) -> list[str]:
    """What ``topology`` and ``template`` disagree on: a table, queue, consumer, stream
    subscription or schedule on one side with no resource or trigger on the other. Empty when
    they agree."""
    meta = template.get("Metadata", {}).get("supporterflow", {})
    app, stage = meta.get("app"), meta.get("stage")
    if not app or not stage:
        return ["template: no Metadata.supporterflow app and stage (not synthesised from a topology)"]
    resources: dict[str, Any] = template.get("Resources", {})

    def of_type(kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r.get("Properties", {}) for lid, r in resources.items() if r.get("Type") == kind}

    tables = {lid: p.get("TableName") for lid, p in of_type("AWS::DynamoDB::Table").items()}
    queue_props = of_type("AWS::SQS::Queue")
    queues = {lid: p.get("QueueName") for lid, p in queue_props.items()}
    functions = {
        lid: p.get("Environment", {}).get("Variables", {}).get("SF_FUNCTION")
        for lid, p in of_type("AWS::Lambda::Function").items()
    }

    def referenced(expression: Any) -> str | None:
        if isinstance(expression, dict):
            if "Ref" in expression:
                return str(expression["Ref"])
            if "Fn::GetAtt" in expression:
                return str(expression["Fn::GetAtt"][0])
        return None

    def source(expression: Any) -> str:
        lid = referenced(expression)
        return str(tables.get(lid or "") or queues.get(lid or "") or expression)

    def target(expression: Any) -> str:
        return str(functions.get(referenced(expression) or "") or expression)

    found_triggers: set[tuple[str, str]] = set()
    failure_destinations: dict[tuple[str, str], str] = {}
    for properties in of_type("AWS::Lambda::EventSourceMapping").values():
        trigger = (source(properties.get("EventSourceArn")), target(properties.get("FunctionName")))
        found_triggers.add(trigger)
        destination = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if destination is not None:
            failure_destinations[trigger] = source(destination)
    found_rules = {
        (target(t.get("Arn")), str(p.get("ScheduleExpression")))
        for p in of_type("AWS::Events::Rule").values()
        for t in p.get("Targets", [])
    }

    def name(definition: TableDef | QueueDef) -> str:
        return definition.physical_name(app, stage)

    outbox = physical_name(OUTBOX, None, app, stage)
    expected_tables = {name(t): f"table {t.name}" for t in topology.tables} | {
        outbox: "the outbox table",
        physical_name(LEASES, None, app, stage): "the leases table",
        physical_name(STREAM_CHECKPOINTS, None, app, stage): "the stream checkpoints table",
    }
    expected_queues = {name(q): f"queue {q.name}" for q in topology.all_queues() if not q.external}
    expected_queues[physical_name(OUTBOX_RELAY_DLQ, None, app, stage)] = "the outbox relay's DLQ"
    expected_functions = {API: "the HTTP app", OUTBOX_RELAY: "the outbox relay"}
    expected_triggers: dict[tuple[str, str], str] = {(outbox, OUTBOX_RELAY): "the outbox relay"}
    for consumer in topology.consumers:
        expected_functions[consumer.name] = f"consumer {consumer.name}"
        trigger = (name(topology.queue(consumer.queue)), consumer.name)
        expected_triggers[trigger] = f"consumer {consumer.name}"
    for subscription in topology.streams:
        table = next(t for t in topology.tables if t.name == subscription.table)
        expected_functions[subscription.name] = f"stream subscription {subscription.name}"
        label = f"stream subscription {subscription.name}"
        expected_triggers[(name(table), subscription.name)] = label
        expected_triggers[(name(subscription.retry_queue), subscription.name)] = label + " (retry queue)"
    expected_rules: dict[tuple[str, str], str] = {}
    for schedule in topology.schedules:
        expected_functions[schedule.name] = f"schedule {schedule.name}"
        expected_rules[(schedule.name, schedule_expression(schedule))] = f"schedule {schedule.name}"

    problems: list[str] = []

    def compare(kind: str, expected: dict[Any, str], found: Iterable[Any], describe: Any) -> None:
        found = set(found)
        problems.extend(
            f"{label}: no {kind} {describe(key)} in the template"
            for key, label in expected.items()
            if key not in found
        )
        problems.extend(
            f"template: {kind} {describe(key)} is not in the topology"
            for key in sorted(found - set(expected), key=str)
        )

    compare("table", expected_tables, tables.values(), str)
    compare("queue", expected_queues, queues.values(), str)
    compare("function", expected_functions, functions.values(), lambda f: f"with SF_FUNCTION={f}")
    compare("trigger", expected_triggers, found_triggers, lambda t: f"from {t[0]} to function {t[1]}")
    compare("schedule rule", expected_rules, found_rules, lambda r: f"{r[1]} of function {r[0]}")

    for queue in topology.all_queues():
        if queue.external:
            if external_parameter(queue) not in template.get("Parameters", {}):
                problems.append(f"queue {queue.name}: no parameter {external_parameter(queue)} for its ARN")
            continue
        if not queue.dlq_name:
            continue
        lid = next((lid for lid, q in queues.items() if q == name(queue)), None)
        redrive = queue_props.get(lid or "", {}).get("RedrivePolicy", {})
        dlq = topology.queue(queue.dlq_name)
        if (
            source(redrive.get("deadLetterTargetArn")) != name(dlq)
            or redrive.get("maxReceiveCount") != queue.max_receives
        ):
            problems.append(
                f"queue {queue.name}: no redrive to {name(dlq)} after {queue.max_receives} receives"
            )
    for subscription in topology.streams:
        table = next(t for t in topology.tables if t.name == subscription.table)
        trigger = (name(table), subscription.name)
        retry = name(subscription.retry_queue)
        if trigger in found_triggers and failure_destinations.get(trigger) != retry:
            problems.append(f"stream subscription {subscription.name}: failed records do not go to {retry}")
    return problems


__all__ = [
    "ENVIRONMENT_KEYS",
    "HTTP_HANDLERS",
    "WILDCARD_RESOURCE_ACTIONS",
    "aws_cron",
    "check_against",
    "function_name",
    "logical_id",
    "schedule_expression",
    "synthesize",
]
