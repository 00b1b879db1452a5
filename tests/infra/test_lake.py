"""The payload lake: Glue tables exactly as `core.lake` defines them, projection consistent with the S3 layout, an
enforced Athena workgroup with encrypted, expiring results and a scan limit, and what `pulumi up` must leave alone."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from core.lake import (
    BASE_COLUMNS,
    DAY_FORMAT,
    DAY_PARTITION,
    MODEL_PARTITION,
    PARTITION_COLUMNS,
    PROJECTION_FIRST_DAY,
    LakeTable,
    glue_table_input,
    part_file_key,
    table_location,
)
from infra.config import Settings, SettingsError
from infra.lake import (
    DEFAULT_BYTES_SCANNED_CUTOFF,
    MAX_DATABASE_NAME,
    MIN_BYTES_SCANNED_CUTOFF,
    RESULTS_EXPIRY_DAYS,
    TableInputError,
    catalog_table_args,
    is_valid_database_name,
    lake_database_name,
    results_lifecycle_rules,
)
from infra.lake_policies import ATHENA_RESULTS_PREFIX, GlueCatalog
from infra.mocks import RecordedResource, Recording

TABLE = "aws:glue/catalogTable:CatalogTable"
DATABASE = "aws:glue/catalogDatabase:CatalogDatabase"
WORKGROUP = "aws:athena/workgroup:Workgroup"
MINIMAL = {"aws:region": "eu-west-1", "autoretrain:modelName": "churn"}
RESULTS_BUCKET = "autoretrain-lake-athena-results"
#: The Hive Parquet classes Athena reads Parquet tables with (Athena's "Parquet SerDe" page), written out here so
#: a wrong constant in core.lake fails this test instead of agreeing with itself.
HIVE_PARQUET = {
    "inputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "outputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
#: Java date-format letters Athena's projection uses -> strftime directives.
JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d"}

#: Recorded (camelCase) inputs -> Glue TableInput keys, per level: the inverse of infra.lake's mapping.
_TABLE = {
    "name": "Name",
    "tableType": "TableType",
    "parameters": "Parameters",
    "partitionKeys": "PartitionKeys",
    "storageDescriptor": "StorageDescriptor",
}
_STORAGE = {
    "columns": "Columns",
    "location": "Location",
    "inputFormat": "InputFormat",
    "outputFormat": "OutputFormat",
    "serDeInfo": "SerdeInfo",
    "compressed": "Compressed",
}
_SERDE = {"name": "Name", "serializationLibrary": "SerializationLibrary", "parameters": "Parameters"}
_COLUMN = {"name": "Name", "type": "Type", "comment": "Comment"}


def _as_table_input(inputs: dict[str, Any]) -> dict[str, Any]:
    """A recorded CatalogTable's inputs back in Glue's TableInput shape (the database is not part of it)."""
    table = {_TABLE[key]: value for key, value in inputs.items() if key != "databaseName"}
    table["PartitionKeys"] = [{_COLUMN[k]: v for k, v in key.items()} for key in table["PartitionKeys"]]
    storage = {_STORAGE[key]: value for key, value in table["StorageDescriptor"].items()}
    storage["Columns"] = [{_COLUMN[k]: v for k, v in column.items()} for column in storage["Columns"]]
    storage["SerdeInfo"] = {_SERDE[key]: value for key, value in storage["SerdeInfo"].items()}
    table["StorageDescriptor"] = storage
    return table


def _table(stack: Recording, table: LakeTable) -> RecordedResource:
    return stack.find(TABLE, f"autoretrain-lake-{table.value}")


def _payload_bucket(stack: Recording) -> str:
    bucket: str = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["bucket"]
    return bucket


def _workgroup(stack: Recording) -> dict[str, Any]:
    configuration: dict[str, Any] = stack.find(WORKGROUP, "autoretrain-lake-workgroup").inputs["configuration"]
    return configuration


def _results_bucket_config(stack: Recording, type_token: str) -> RecordedResource:
    bucket = stack.find("aws:s3/bucket:Bucket", RESULTS_BUCKET).outputs["bucket"]
    (resource,) = [resource for resource in stack.of_type(type_token) if resource.inputs["bucket"] == bucket]
    return resource


# --- Glue tables ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(LakeTable))
def test_tables_are_exactly_the_contracts_table_input(stack: Recording, table: LakeTable) -> None:
    recorded = _as_table_input(dict(_table(stack, table).inputs))
    assert recorded == glue_table_input(_payload_bucket(stack), table)


@pytest.mark.parametrize("table", list(LakeTable))
def test_tables_are_external_parquet_with_the_hive_parquet_serde(stack: Recording, table: LakeTable) -> None:
    inputs = _table(stack, table).inputs
    storage = inputs["storageDescriptor"]
    assert inputs["tableType"] == "EXTERNAL_TABLE"
    assert inputs["parameters"]["EXTERNAL"] == "TRUE"
    assert inputs["parameters"]["classification"] == "parquet"
    assert (storage["inputFormat"], storage["outputFormat"], storage["serDeInfo"]["serializationLibrary"]) == (
        HIVE_PARQUET["inputFormat"],
        HIVE_PARQUET["outputFormat"],
        HIVE_PARQUET["serde"],
    )


@pytest.mark.parametrize("table", list(LakeTable))
def test_partition_keys_are_model_and_day_strings_and_not_columns(stack: Recording, table: LakeTable) -> None:
    inputs = _table(stack, table).inputs
    keys = [(key["name"], key["type"]) for key in inputs["partitionKeys"]]
    columns = {column["name"] for column in inputs["storageDescriptor"]["columns"]}
    assert keys == [(MODEL_PARTITION, "string"), (DAY_PARTITION, "string")]
    assert columns == {column.name for column in BASE_COLUMNS[table]}
    assert not columns & {name for name, _ in keys}


@pytest.mark.parametrize("table", list(LakeTable))
def test_tables_live_under_lake_in_the_payload_bucket(stack: Recording, table: LakeTable) -> None:
    location = _table(stack, table).inputs["storageDescriptor"]["location"]
    assert location == f"s3://{_payload_bucket(stack)}/lake/{table.value}/"


@pytest.mark.parametrize("table", list(LakeTable))
def test_projection_template_is_the_table_location_then_model_then_day(stack: Recording, table: LakeTable) -> None:
    inputs = _table(stack, table).inputs
    parameters = inputs["parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["storage.location.template"] == (
        inputs["storageDescriptor"]["location"] + "model=${model}/dt=${dt}/"
    )
    # Every partition key is projected, and the template names each of them.
    for key in inputs["partitionKeys"]:
        assert f"projection.{key['name']}.type" in parameters
        assert "${" + key["name"] + "}" in parameters["storage.location.template"]


@pytest.mark.parametrize("table", list(LakeTable))
def test_projected_day_format_and_range_match_the_writers_day(stack: Recording, table: LakeTable) -> None:
    parameters = _table(stack, table).inputs["parameters"]
    java = parameters["projection.dt.format"]
    strftime = re.sub("|".join(JAVA_TO_STRFTIME), lambda match: JAVA_TO_STRFTIME[match.group(0)], java)
    assert strftime == DAY_FORMAT
    assert parameters["projection.dt.type"] == "date"
    assert (parameters["projection.dt.interval"], parameters["projection.dt.interval.unit"]) == ("1", "DAYS")
    first, last = parameters["projection.dt.range"].split(",")
    assert datetime.strptime(first, DAY_FORMAT).strftime(DAY_FORMAT) == first == PROJECTION_FIRST_DAY
    assert last == "NOW"
    # The model is injected: every query names it, so no list of models needs maintaining.
    assert parameters["projection.model.type"] == "injected"


@pytest.mark.parametrize("table", list(LakeTable))
def test_a_written_file_lies_in_the_partition_projection_computes(stack: Recording, table: LakeTable) -> None:
    parameters = _table(stack, table).inputs["parameters"]
    bucket = _payload_bucket(stack)
    day = datetime(2026, 11, 23, 10, 0).strftime(DAY_FORMAT)
    partition = parameters["storage.location.template"].replace("${model}", "churn").replace("${dt}", day)
    key = part_file_key(table, "churn", day, "abc", 0)
    assert f"s3://{bucket}/{key}".startswith(partition)
    assert partition.startswith(table_location(bucket, table))


def test_tables_are_in_the_lake_database(stack: Recording) -> None:
    database = stack.find(DATABASE, "autoretrain-lake-database").outputs["name"]
    assert {_table(stack, table).inputs["databaseName"] for table in LakeTable} == {database}


def test_only_the_predictions_columns_are_left_to_the_retrain_job(stack: Recording) -> None:
    # The retrain job adds feature columns at release (glue:UpdateTable); `pulumi up` must not remove them.
    assert _table(stack, LakeTable.PREDICTIONS).ignore_changes == ("storageDescriptor.columns",)
    assert _table(stack, LakeTable.LABELS).ignore_changes == ()


def test_the_mapping_refuses_a_table_input_key_it_does_not_know() -> None:
    table_input = glue_table_input("bucket", LakeTable.LABELS)
    with pytest.raises(TableInputError, match="Retention"):
        catalog_table_args({**table_input, "Retention": 0})
    storage = {**table_input["StorageDescriptor"], "SortColumns": []}
    with pytest.raises(TableInputError, match="SortColumns"):
        catalog_table_args({**table_input, "StorageDescriptor": storage})


def test_the_mapping_keeps_every_column_and_comment() -> None:
    args = catalog_table_args(glue_table_input("bucket", LakeTable.PREDICTIONS))
    assert [column["name"] for column in args["storage_descriptor"]["columns"]] == [
        column.name for column in BASE_COLUMNS[LakeTable.PREDICTIONS]
    ]
    assert [key["name"] for key in args["partition_keys"]] == [column.name for column in PARTITION_COLUMNS]
    assert any(column.get("comment") for column in args["storage_descriptor"]["columns"])


# --- Glue database -------------------------------------------------------------------------------------------------


def test_database_is_named_explicitly_with_what_athena_accepts(stack: Recording) -> None:
    # Pulumi's auto-name would join a random suffix with '-', which Athena refuses in a database name.
    database = stack.find(DATABASE, "autoretrain-lake-database")
    assert database.inputs["name"] == "autoretrain_churn_dev"
    assert is_valid_database_name(database.outputs["name"])


@pytest.mark.parametrize(
    "model", ["churn", "Churn-V2", "churn.v2", "a" * 64, "x-" * 32, "UPPER_case-1.0"], ids=lambda model: model[:12]
)
@pytest.mark.parametrize("stack_name", ["dev", "prod-eu", "Feature.Branch_1", "s" * 200])
def test_database_names_are_valid_for_glue_and_athena(model: str, stack_name: str) -> None:
    name = lake_database_name("autoretrain", model, stack_name)
    assert re.fullmatch(r"[a-z0-9_]+", name)
    assert len(name) <= MAX_DATABASE_NAME


def test_a_valid_name_is_kept_and_names_that_fold_together_stay_apart() -> None:
    assert lake_database_name("autoretrain", "churn", "dev") == "autoretrain_churn_dev"
    assert lake_database_name("autoretrain", "churn-v2", "dev") != lake_database_name("autoretrain", "churn_v2", "dev")
    assert lake_database_name("autoretrain", "Churn", "dev") != lake_database_name("autoretrain", "churn", "dev")


def test_glue_arns_match_the_deployed_database_and_tables(stack: Recording) -> None:
    database = stack.find(DATABASE, "autoretrain-lake-database")
    catalog = GlueCatalog(region="eu-west-1", account_id="123456789012", database=database.outputs["name"])
    assert catalog.database_arn == database.outputs["arn"]
    assert {catalog.table_arn(table) for table in LakeTable} == {
        _table(stack, table).outputs["arn"] for table in LakeTable
    }


# --- Athena workgroup ----------------------------------------------------------------------------------------------


def test_workgroup_configuration_is_enforced(stack: Recording) -> None:
    # Otherwise a client could pick another result location, drop the encryption or lift the scan limit.
    assert _workgroup(stack)["enforceWorkgroupConfiguration"] is True


def test_workgroup_results_are_encrypted_in_the_results_bucket_of_this_account(stack: Recording) -> None:
    results = _workgroup(stack)["resultConfiguration"]
    bucket = stack.find("aws:s3/bucket:Bucket", RESULTS_BUCKET).outputs["bucket"]
    assert results["encryptionConfiguration"]["encryptionOption"] in {"SSE_S3", "SSE_KMS"}
    assert results["outputLocation"] == f"s3://{bucket}/{ATHENA_RESULTS_PREFIX}"
    assert results["expectedBucketOwner"] == "123456789012"


def test_workgroup_limits_bytes_scanned_per_query_from_config(stack: Recording, alternative_stack: Recording) -> None:
    assert _workgroup(stack)["bytesScannedCutoffPerQuery"] == DEFAULT_BYTES_SCANNED_CUTOFF
    assert _workgroup(alternative_stack)["bytesScannedCutoffPerQuery"] == 50_000_000_000
    assert DEFAULT_BYTES_SCANNED_CUTOFF >= MIN_BYTES_SCANNED_CUTOFF


def test_workgroup_publishes_metrics_and_lets_athena_pick_the_engine(stack: Recording) -> None:
    configuration = _workgroup(stack)
    assert configuration["publishCloudwatchMetricsEnabled"] is True
    assert configuration["engineVersion"] == {"selectedEngineVersion": "AUTO"}


def test_bytes_scanned_cutoff_minimum_is_the_stricter_of_athena_and_the_provider() -> None:
    # Athena's API accepts 10,000,000 bytes; the provider refuses anything below 10 MiB.
    assert max(10_000_000, 10 * 1024 * 1024) == MIN_BYTES_SCANNED_CUTOFF


@pytest.mark.parametrize("cutoff", [0, 10_000_000, MIN_BYTES_SCANNED_CUTOFF - 1])
def test_a_cutoff_below_the_minimum_is_refused_by_key(cutoff: int) -> None:
    with pytest.raises(SettingsError, match=f"athenaBytesScannedCutoff must be at least {MIN_BYTES_SCANNED_CUTOFF}"):
        Settings.from_mapping({**MINIMAL, "autoretrain:athenaBytesScannedCutoff": str(cutoff)})


def test_the_minimum_cutoff_is_accepted() -> None:
    settings = Settings.from_mapping({**MINIMAL, "autoretrain:athenaBytesScannedCutoff": str(MIN_BYTES_SCANNED_CUTOFF)})
    assert settings.athena_bytes_scanned_cutoff == MIN_BYTES_SCANNED_CUTOFF


# --- Results bucket ------------------------------------------------------------------------------------------------


def test_results_bucket_is_encrypted_blocked_and_without_acls(stack: Recording) -> None:
    encryption = _results_bucket_config(
        stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    (rule,) = encryption.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = _results_bucket_config(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[flag] for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    ownership = _results_bucket_config(stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"


def test_results_bucket_refuses_requests_without_tls(stack: Recording) -> None:
    arn = stack.find("aws:s3/bucket:Bucket", RESULTS_BUCKET).outputs["arn"]
    (statement,) = json.loads(_results_bucket_config(stack, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])[
        "Statement"
    ]
    assert (statement["Effect"], statement["Action"], statement["Principal"]) == ("Deny", ["s3:*"], "*")
    assert set(statement["Resource"]) == {arn, f"{arn}/*"}
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_results_expire_after_a_few_days_and_failed_uploads_are_aborted(stack: Recording) -> None:
    rules = _results_bucket_config(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs[
        "rules"
    ]
    expiry = [rule for rule in rules if "expiration" in rule]
    assert [(rule["filter"]["prefix"], rule["expiration"]["days"]) for rule in expiry] == [("", RESULTS_EXPIRY_DAYS)]
    assert 1 <= RESULTS_EXPIRY_DAYS <= 7
    assert results_lifecycle_rules(5)[1]["expiration"] == {"days": 5}
    assert any("abortIncompleteMultipartUpload" in rule for rule in rules)
    assert all(rule["status"] == "Enabled" for rule in rules)


def test_results_bucket_is_not_versioned(stack: Recording) -> None:
    bucket = stack.find("aws:s3/bucket:Bucket", RESULTS_BUCKET).outputs["bucket"]
    versioned = {resource.inputs["bucket"] for resource in stack.of_type("aws:s3/bucketVersioning:BucketVersioning")}
    assert bucket not in versioned
