"""Database names, the sql block, the aws block and origin (docs/mapping.md; Collector rules R63-R87)."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

from otel_xray.translate import Translator
from otel_xray.translate.aws import resource_aws_block
from otel_xray.translate.origin import origin

from .spans import make_span, span_context

PARENT = span_context()
AWS = {"service.name": "svc", "cloud.provider": "aws"}


def translate(name="span", kind=SpanKind.CLIENT, attributes=None, resource=None):
    return Translator().translate(
        make_span(name=name, kind=kind, attributes=attributes, resource=resource or {"service.name": "svc"}, parent=PARENT)
    )


# --------------------------------------------------------------- database names
@pytest.mark.parametrize(
    "attributes, expected",
    [
        # What opentelemetry-instrumentation-sqlite3 0.66b1 records: no database name at all.
        ({"db.system": "sqlite", "db.statement": "insert into t values (?)"}, "sqlite"),
        ({"db.system": "sqlite", "db.name": "/srv/app/data/app.db"}, "app.db"),
        ({"db.system": "sqlite", "db.name": "C:\\data\\app.db"}, "app.db"),
        ({"db.system": "sqlite", "db.name": ":memory:"}, ":memory:"),
        # dbapi instrumentations (psycopg, mysql, ...), old and new conventions.
        ({"db.system": "postgresql", "db.name": "shop", "net.peer.name": "db.internal", "net.peer.port": 5432}, "shop@db.internal"),
        ({"db.system.name": "postgresql", "db.namespace": "shop", "server.address": "db.internal", "server.port": 5432}, "shop@db.internal"),
        ({"db.system": "mysql", "db.name": "customers", "db.connection_string": "jdbc:mysql://db.dev.example.com:3306", "server.address": "ignored"}, "customers@db.dev.example.com"),
        ({"db.system": "postgresql", "server.address": "db.internal"}, "postgresql"),
        ({"db.system": "redis", "db.statement": "GET k"}, "redis"),
        # An AWS SDK call is named after the service, though botocore sets db.system for DynamoDB.
        ({"db.system": "dynamodb", "rpc.system": "aws-api", "rpc.service": "DynamoDB", "server.address": "127.0.0.1"}, "DynamoDB"),
        # peer.service, set by the user, still wins.
        ({"db.system": "postgresql", "db.name": "shop", "peer.service": "orders-db"}, "orders-db"),
    ],
)
def test_databases_are_named_after_the_database_never_the_statement(attributes, expected):
    assert translate(name="SELECT", attributes=attributes)["name"] == expected


def test_a_server_span_is_never_named_after_a_database():
    assert translate(name="GET /", kind=SpanKind.SERVER, attributes={"db.system": "postgresql", "db.name": "shop"})["name"] == "svc"


# --------------------------------------------------------------- sql
@pytest.mark.parametrize(
    "attributes, expected",
    [
        (
            {"db.system": "mysql", "db.name": "customers", "db.connection_string": "jdbc:mysql://db.dev.example.com:3306", "db.user": "readonly", "db.statement": "SELECT * FROM customers WHERE id = ?"},
            {"url": "mysql://db.dev.example.com:3306/customers", "connection_string": "jdbc:mysql://db.dev.example.com:3306/customers", "database_type": "mysql", "user": "readonly", "sanitized_query": "SELECT * FROM customers WHERE id = ?"},
        ),
        (
            {"db.system": "postgresql", "db.name": "customers"},
            {"database_type": "postgresql"},
        ),
        (
            {"db.system.name": "postgresql", "db.namespace": "shop", "db.query.text": "SELECT 1", "server.address": "db.internal", "server.port": 5432},
            # Without db.connection_string, url says host, port and database: no connection_string repeats them.
            {"url": "postgresql://db.internal:5432/shop", "database_type": "postgresql", "sanitized_query": "SELECT 1"},
        ),
        (
            {"db.system": "postgresql", "db.name": "shop", "net.peer.name": "db.internal", "net.peer.port": 5432, "db.user": "app"},
            {"url": "postgresql://db.internal:5432/shop", "database_type": "postgresql", "user": "app"},
        ),
        (
            {"db.system": "microsoft.sql_server", "db.name": "x", "server.address": "sql.local"},
            {"url": "microsoft.sql_server://sql.local/x", "database_type": "microsoft.sql_server"},
        ),
        (
            {"db.system": "sqlite", "db.statement": "select 1"},
            {"database_type": "sqlite", "sanitized_query": "select 1"},
        ),
    ],
)
def test_r63_to_r66_sql_block(attributes, expected):
    doc = translate(name="select-span", attributes=attributes)
    assert doc["sql"] == expected
    sql_keys = set(attributes) - {"server.address", "server.port", "net.peer.name", "net.peer.port"}
    assert not sql_keys & set(doc.get("metadata", {}).get("default", {}))


@pytest.mark.parametrize("system", ["redis", "mongodb", "dynamodb"])
def test_r68_non_sql_databases_keep_db_keys_in_metadata(system):
    attributes = {"db.system": system, "db.statement": "GET k", "db.name": "0"}
    doc = translate(attributes=attributes)
    assert "sql" not in doc
    assert doc["metadata"]["default"] == attributes


def test_r67_database_and_driver_versions_are_not_invented():
    doc = translate(attributes={"db.system": "mysql", "db.name": "x"})
    assert "database_version" not in doc["sql"] and "driver_version" not in doc["sql"]


# --------------------------------------------------------------- aws, span fields
def test_r74_to_r76_operation_region_request_id():
    doc = translate(
        attributes={"rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "GetItem", "aws.region": "eu-west-1", "aws.request_id": "RID"}
    )
    assert doc["aws"]["operation"] == "GetItem"
    assert doc["aws"]["region"] == "eu-west-1"
    assert doc["aws"]["request_id"] == "RID"
    assert doc["name"] == "DynamoDB" and doc["namespace"] == "aws"
    # The field keys are consumed (R90); so are the naming keys the document shows: rpc.service is
    # its name, rpc.system = aws-api its namespace (the Collector keeps both in metadata).
    assert "metadata" not in doc


@pytest.mark.parametrize(
    "attributes, kind, left",
    [
        # A name the sanitiser changed keeps the attribute's own value in metadata.
        ({"rpc.system": "grpc", "rpc.service": "shop.Cart(v2)"}, SpanKind.CLIENT, {"rpc.system": "grpc", "rpc.service": "shop.Cart(v2)"}),
        ({"rpc.system": "grpc", "rpc.service": "shop.Cart"}, SpanKind.CLIENT, {"rpc.system": "grpc"}),
        ({"messaging.system": "aws_sqs", "messaging.destination.name": "orders"}, SpanKind.PRODUCER, {"messaging.system": "aws_sqs"}),
        ({"peer.service": "payments", "peer.service.extra": 1}, SpanKind.CLIENT, {"peer.service.extra": 1}),
        # Another rule named it: both stay.
        ({"peer.service": "payments", "rpc.service": "Cart"}, SpanKind.CLIENT, {"rpc.service": "Cart"}),
    ],
)
def test_the_attribute_that_names_a_document_is_not_repeated_in_metadata(attributes, kind, left):
    doc = translate(attributes=attributes, kind=kind)
    assert doc["metadata"]["default"] == left


@pytest.mark.parametrize(
    "attributes, field, value",
    [
        # Current semantic-convention names (what opentelemetry-instrumentation-botocore records).
        ({"cloud.region": "eu-west-1"}, "region", "eu-west-1"),
        ({"aws.region": "us-east-2", "cloud.region": "eu-west-1"}, "region", "us-east-2"),
        ({"aws.sqs.queue.url": "https://sqs/q3"}, "queue_url", "https://sqs/q3"),
        ({"aws.extended_request_id": "id2"}, "id_2", "id2"),
        ({"aws.sns.topic.arn": "arn:aws:sns:us-east-1:1:t"}, "topic_arn", "arn:aws:sns:us-east-1:1:t"),
        # Old names.
        ({"aws.operation": "PutObject", "rpc.method": "ignored"}, "operation", "PutObject"),
        ({"aws.requestId": "R2"}, "request_id", "R2"),
        ({"aws.queue_url": "https://q"}, "queue_url", "https://q"),
        ({"aws.queue.url": "https://q2"}, "queue_url", "https://q2"),
        ({"aws.queue_url": "https://q", "messaging.url": "https://m"}, "queue_url", "https://m"),
        ({"aws.table_name": "t1"}, "table_name", "t1"),
        ({"aws.table.name": "t2"}, "table_name", "t2"),
        ({"aws.dynamodb.table_names": ["only"]}, "table_name", "only"),
        ({"aws.dynamodb.table_names": "single"}, "table_name", "single"),
        ({"aws.dynamodb.table_names": ["a", "b"]}, "table_names", ["a", "b"]),
        ({"aws.account_id": "987654321"}, "account_id", "987654321"),
        ({"aws.s3.bucket": "my-bucket", "aws.s3.key": "k/1"}, "bucket_name", "my-bucket"),
    ],
)
def test_r73_to_r78_span_aws_fields(attributes, field, value):
    doc = translate(attributes=attributes, resource=AWS)
    assert doc["aws"][field] == value
    # Every key that fills a field is consumed.
    assert not set(attributes) & set(doc.get("metadata", {}).get("default", {}))


def test_r78_many_tables_clear_table_name():
    doc = translate(attributes={"aws.table_name": "t", "aws.dynamodb.table_names": ["a", "b"]})
    assert "table_name" not in doc["aws"] and doc["aws"]["table_names"] == ["a", "b"]


def test_r75_region_is_not_taken_from_the_resource():
    doc = translate(resource={**AWS, "cloud.region": "us-east-1"}, kind=SpanKind.SERVER)
    assert "region" not in doc["aws"]
    assert doc["metadata"]["default"]["otel.resource.cloud.region"] == "us-east-1"


def test_r73_span_account_overrides_resource_account():
    doc = translate(attributes={"aws.account_id": "987654321"}, resource={**AWS, "cloud.account.id": "123456789"}, kind=SpanKind.SERVER)
    assert doc["aws"]["account_id"] == "987654321"


# --------------------------------------------------------------- aws, resource blocks
def test_r71_non_aws_cloud_has_no_aws_block_and_loses_aws_fields():
    doc = translate(attributes={"aws.region": "x", "aws.operation": "Op"}, resource={"service.name": "s", "cloud.provider": "gcp"})
    assert "aws" not in doc
    assert "aws.region" not in doc.get("metadata", {}).get("default", {})


def test_r72_xray_block_on_segments():
    resource = {"service.name": "s", "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "python", "telemetry.sdk.version": "1.2.3"}
    doc = translate(resource=resource, kind=SpanKind.SERVER)
    # auto_instrumentation is written when true only: absent means false to X-Ray.
    assert doc["aws"]["xray"] == {"sdk": "opentelemetry for python", "sdk_version": "1.2.3"}
    resource["telemetry.auto.version"] = "0.1"
    assert translate(resource=resource, kind=SpanKind.SERVER)["aws"]["xray"]["auto_instrumentation"] is True


@pytest.mark.parametrize(
    "resource, block, expected",
    [
        ({"cloud.platform": "aws_ec2", "host.id": "i-1", "cloud.availability_zone": "us-east-1a", "host.type": "m5.large", "host.image.id": "ami-1"}, "ec2", {"instance_id": "i-1", "availability_zone": "us-east-1a", "instance_size": "m5.large", "ami_id": "ami-1"}),
        ({"host.id": "i-2"}, "ec2", {"instance_id": "i-2"}),
        ({"cloud.platform": "aws_ecs", "container.name": "web", "container.id": "c1", "aws.ecs.task.arn": "arn:t", "aws.ecs.task.family": "fam", "aws.ecs.cluster.arn": "arn:c", "aws.ecs.container.arn": "arn:ct", "aws.ecs.launchtype": "fargate"}, "ecs", {"container": "web", "container_id": "c1", "task_arn": "arn:t", "task_family": "fam", "cluster_arn": "arn:c", "container_arn": "arn:ct", "launch_type": "fargate"}),
        ({"cloud.platform": "aws_elastic_beanstalk", "service.instance.id": "23", "service.namespace": "prod", "service.version": "v7"}, "elastic_beanstalk", {"environment_name": "prod", "version_label": "v7", "deployment_id": 23}),
        ({"cloud.platform": "aws_elastic_beanstalk", "service.instance.id": "abc"}, "elastic_beanstalk", {"deployment_id": 0}),
        # opentelemetry-sdk-extension-aws's Beanstalk detector gives the deployment number as an int.
        ({"cloud.platform": "aws_elastic_beanstalk", "service.instance.id": 7}, "elastic_beanstalk", {"deployment_id": 7}),
        ({"cloud.platform": "aws_eks", "k8s.cluster.name": "c", "k8s.pod.name": "p", "container.id": "x"}, "eks", {"cluster_name": "c", "pod": "p", "container_id": "x"}),
        ({"k8s.cluster.name": "plain-k8s"}, "eks", {"cluster_name": "plain-k8s"}),
        ({"aws.log.group.arns": ["arn:aws:logs:us-east-1:123456789123:log-group:group2:*"]}, "cloudwatch_logs", [{"log_group": "group2", "arn": "arn:aws:logs:us-east-1:123456789123:log-group:group2:*"}]),
        ({"aws.log.group.names": "g1&g2&"}, "cloudwatch_logs", [{"log_group": "g1"}, {"log_group": "g2"}]),
    ],
)
def test_r80_to_r85_resource_blocks(resource, block, expected):
    doc = translate(resource={"service.name": "s", **resource}, kind=SpanKind.SERVER)
    assert doc["aws"][block] == expected


def test_r82_beanstalk_needs_an_instance_id():
    # Resource.create adds a service.instance.id of its own, so test the resource rule directly.
    assert "elastic_beanstalk" not in resource_aws_block({"cloud.platform": "aws_elastic_beanstalk"})


def test_resource_blocks_origin_and_service_on_segments_only():
    # The Collector repeats them on every subsegment (R86); X-Ray reads them from segments,
    # and the X-Ray SDKs send them there only.
    resource = {"service.name": "s", "service.version": "1", "cloud.provider": "aws", "cloud.platform": "aws_ec2", "host.id": "i-9"}
    segment = translate(resource=resource, kind=SpanKind.SERVER)
    assert segment["aws"]["ec2"] == {"instance_id": "i-9"} and "xray" in segment["aws"]
    assert segment["origin"] == "AWS::EC2::Instance" and segment["service"]["version"] == "1"
    subsegment = translate(resource=resource)
    assert subsegment["type"] == "subsegment"
    assert not {"aws", "origin", "service"} & set(subsegment)
    call = translate(resource=resource, attributes={"rpc.system": "aws-api", "rpc.method": "GetItem"})
    assert call["aws"] == {"operation": "GetItem"}


# --------------------------------------------------------------- origin
@pytest.mark.parametrize(
    "resource, expected",
    [
        ({}, None),
        ({"cloud.provider": "aws", "cloud.platform": "aws_ec2"}, "AWS::EC2::Instance"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_ecs"}, "AWS::ECS::Container"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_ecs", "aws.ecs.launchtype": "ec2"}, "AWS::ECS::EC2"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_ecs", "aws.ecs.launchtype": "fargate"}, "AWS::ECS::Fargate"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_eks"}, "AWS::EKS::Container"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_elastic_beanstalk"}, "AWS::ElasticBeanstalk::Environment"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_app_runner"}, "AWS::AppRunner::Service"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_lambda"}, "AWS::Lambda::Function"),
        ({"cloud.provider": "aws", "cloud.platform": "aws_ec2", "k8s.cluster.name": "c"}, "AWS::EC2::Instance"),
        ({"cloud.provider": "gcp", "cloud.platform": "aws_ec2"}, None),
        ({"cloud.platform": "aws_ec2"}, "AWS::EC2::Instance"),
        ({"cloud.provider": "aws"}, None),
    ],
)
def test_r87_origin(resource, expected):
    assert origin(resource) == expected


def test_r87_origin_on_documents():
    doc = translate(resource={"service.name": "s", "cloud.provider": "aws", "cloud.platform": "aws_eks"}, kind=SpanKind.SERVER)
    assert doc["origin"] == "AWS::EKS::Container"
