"""Dashboard: one CloudWatch dashboard for the loop, and alarms that notify the alert topic.

Every alarm notifies the topic but `dataset-drift`: one drifting check is as likely a blip as a change, so people
hear of drift only when the trigger policy asks for a retrain (`RetrainRequested`, routed to the topic by
`core.routing`); the alarm still shows each check's verdict in CloudWatch. The alarms on the serving function
(`deploy_guard`) are the ones a canary deploy watches (`infra.release`).

The drift-check job's metrics (namespace, names, dimensions) come from `core.metric_names`, which the job publishes
from too. The dashboard body is built by a pure function; per-feature effect sizes use a SEARCH expression, so
features need no listing here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from core.metric_names import (
    DATASET_DRIFT,
    DOMAIN_CLASSIFIER_AUC,
    DRIFT_METRICS,
    EXPECTED_AUC,
    EXPECTED_AUC_DROP,
    FEATURE_DRIFT_EFFECT_SIZE,
    IMPACTFUL_DRIFT,
    METRIC_NAMESPACE,
    MODEL_AUC,
    PER_MODEL,
    PERFORMANCE_METRICS,
    VOLUME_METRICS,
    Dimension,
    Metric,
)

#: The dashboard component's type token before it was renamed from `Monitoring`: an alias keeps a deployed stack's
#: dashboard and alarms instead of replacing them.
FORMER_TYPE = "autoretrain:dashboard:Monitoring"
LAMBDA_PERIOD_SECONDS = 300
#: The drift check runs daily by default; its metrics carry the check's time, one point per run.
DRIFT_PERIOD_SECONDS = 86400
WIDGET_WIDTH = 12
WIDGET_HEIGHT = 6
TreatMissing = Literal["breaching", "notBreaching", "ignore", "missing"]
#: The label of the serving function in `DashboardArgs.functions`: its alarms guard a canary deploy.
SERVING_FUNCTION = "serving"


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """One alarm, with why missing data counts the way it does; `notifies`: its state changes go to the alert topic;
    `deploy_guard`: a canary deploy of the serving function rolls back while it is in ALARM."""

    key: str
    description: str
    namespace: str
    metric_name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str
    period: int
    comparison: str
    threshold: float
    treat_missing_data: TreatMissing
    notifies: bool = True
    deploy_guard: bool = False


def _widget(title: str, metrics: list[list[Any]], region: str, *, stat: str, period: int, index: int) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": (index % 2) * WIDGET_WIDTH,
        "y": (index // 2) * WIDGET_HEIGHT,
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": {"title": title, "region": region, "stat": stat, "period": period, "metrics": metrics},
    }


def model_dimensions(metric: Metric, model_name: str) -> dict[str, str]:
    """A per-model metric's dimensions for this model (a per-feature metric has one series per feature: search)."""
    if metric.dimensions != PER_MODEL:
        raise ValueError(f"{metric.name} has dimensions {metric.dimensions}, not one series per model")
    return {Dimension.MODEL_NAME.value: model_name}


def _metric_line(metric: Metric, model_name: str) -> list[Any]:
    """A dashboard metric line: namespace, name, then each dimension's name and value."""
    dimensions = model_dimensions(metric, model_name)
    return [METRIC_NAMESPACE, metric.name, *(part for item in dimensions.items() for part in item)]


def feature_search(metric: Metric, model_name: str, period: int) -> str:
    """A SEARCH expression for a per-feature metric of this model: every feature, no listing needed."""
    schema = ",".join([METRIC_NAMESPACE, *metric.dimensions])
    return (
        f'SEARCH(\'{{{schema}}} MetricName="{metric.name}" {Dimension.MODEL_NAME}="{model_name}"\', '
        f"'Maximum', {period})"
    )


def _stream_line(metric: str, stream: str) -> list[Any]:
    """A dashboard metric line of a Firehose delivery stream."""
    return ["AWS/Firehose", metric, "DeliveryStreamName", stream]


def dashboard_body(
    *, region: str, model_name: str, functions: Mapping[str, str], etl_failure_queue: str, payload_stream: str
) -> str:
    """The dashboard's JSON: Lambda errors and duration (label -> function name), the ETL failure queue, the payload
    stream's records in and out and its delivery lag, drift, per-feature effect sizes, the domain classifier and
    performance on matured labels."""
    features = feature_search(FEATURE_DRIFT_EFFECT_SIZE, model_name, DRIFT_PERIOD_SECONDS)
    lambda_errors = [
        ["AWS/Lambda", "Errors", "FunctionName", name, {"label": label}] for label, name in functions.items()
    ]
    lambda_duration = [
        ["AWS/Lambda", "Duration", "FunctionName", name, {"label": f"{label} p99", "stat": "p99"}]
        for label, name in functions.items()
    ]
    widgets: list[tuple[str, list[list[Any]], str, int]] = [
        ("Lambda errors", lambda_errors, "Sum", LAMBDA_PERIOD_SECONDS),
        ("Lambda duration (p99, ms)", lambda_duration, "p99", LAMBDA_PERIOD_SECONDS),
        (
            "Payload ETL failed events (messages in the failure queue)",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", etl_failure_queue]],
            "Maximum",
            LAMBDA_PERIOD_SECONDS,
        ),
        (
            "Payload records sent to Firehose and delivered to S3",
            [
                [*_stream_line("IncomingRecords", payload_stream), {"label": "in"}],
                [*_stream_line("DeliveryToS3.Records", payload_stream), {"label": "delivered"}],
            ],
            "Sum",
            LAMBDA_PERIOD_SECONDS,
        ),
        (
            "Payload delivery lag (s, oldest record not yet in S3)",
            [_stream_line("DeliveryToS3.DataFreshness", payload_stream)],
            "Maximum",
            LAMBDA_PERIOD_SECONDS,
        ),
        (
            "Drift (1 = drift; drifted feature count)",
            [_metric_line(metric, model_name) for metric in DRIFT_METRICS],
            "Maximum",
            DRIFT_PERIOD_SECONDS,
        ),
        (
            "Per-feature drift effect size (published with the stack setting featureMetrics)",
            [[{"expression": features, "id": "features", "label": ""}]],
            "Maximum",
            DRIFT_PERIOD_SECONDS,
        ),
        (
            "Domain classifier AUC (0.5 = indistinguishable)",
            [_metric_line(DOMAIN_CLASSIFIER_AUC, model_name)],
            "Maximum",
            DRIFT_PERIOD_SECONDS,
        ),
        (
            "Performance on matured labels",
            [_metric_line(metric, model_name) for metric in PERFORMANCE_METRICS],
            "Average",
            DRIFT_PERIOD_SECONDS,
        ),
        (
            "Estimated (no labels, today's window) vs realised AUC (matured labels, a label delay ago)",
            [_metric_line(EXPECTED_AUC, model_name), _metric_line(MODEL_AUC, model_name)],
            "Average",
            DRIFT_PERIOD_SECONDS,
        ),
        (
            "Drift impact: expected AUC drop from the reference; impactful drift (0/1)",
            [_metric_line(EXPECTED_AUC_DROP, model_name), _metric_line(IMPACTFUL_DRIFT, model_name)],
            "Maximum",
            DRIFT_PERIOD_SECONDS,
        ),
        (
            "Rows checked, labelled; insufficient data; retrains requested",
            [_metric_line(metric, model_name) for metric in VOLUME_METRICS],
            "Sum",
            DRIFT_PERIOD_SECONDS,
        ),
    ]
    body = {
        "widgets": [
            _widget(title, metrics, region, stat=stat, period=period, index=index)
            for index, (title, metrics, stat, period) in enumerate(widgets)
        ]
    }
    return json.dumps(body, sort_keys=True)


def alarm_specs(
    *,
    model_name: str,
    functions: Mapping[str, pulumi.Input[str]],
    etl_failure_queue: pulumi.Input[str],
    auc_floor: float,
) -> list[AlarmSpec]:
    """Every alarm: Lambda errors per function (label -> name), the ETL failure queue, dataset drift, AUC below
    its floor."""
    specs = [
        # No invocations means no errors: missing data is not a failure.
        AlarmSpec(
            f"{label}-errors",
            f"autoretrain {label} Lambda raised errors",
            "AWS/Lambda",
            "Errors",
            {"FunctionName": name},
            "Sum",
            LAMBDA_PERIOD_SECONDS,
            "GreaterThanOrEqualToThreshold",
            1,
            "notBreaching",
            deploy_guard=label == SERVING_FUNCTION,
        )
        for label, name in functions.items()
    ]
    specs += [
        # SQS stops reporting an idle queue after a while: missing means empty, not broken.
        AlarmSpec(
            "etl-failed-events",
            "S3 events the payload ETL gave up on are waiting in its failure queue (replay them; see the runbook)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": etl_failure_queue},
            "Maximum",
            LAMBDA_PERIOD_SECONDS,
            "GreaterThanThreshold",
            0,
            "notBreaching",
        ),
        # Between daily checks there is no point: missing data keeps the last state instead of flapping to OK.
        # It notifies no one (module docstring): a single drifting check only starts the trigger policy's streak.
        AlarmSpec(
            "dataset-drift",
            "The drift check found dataset drift (no notification: a retrain request is what reaches people)",
            METRIC_NAMESPACE,
            DATASET_DRIFT.name,
            model_dimensions(DATASET_DRIFT, model_name),
            "Maximum",
            DRIFT_PERIOD_SECONDS,
            "GreaterThanOrEqualToThreshold",
            1,
            "ignore",
            notifies=False,
        ),
        # No AUC means too few matured labels, which the drift report says; it is not a performance alarm.
        AlarmSpec(
            "auc-below-floor",
            f"Model AUC on matured labels fell below {auc_floor:g}",
            METRIC_NAMESPACE,
            MODEL_AUC.name,
            model_dimensions(MODEL_AUC, model_name),
            "Minimum",
            DRIFT_PERIOD_SECONDS,
            "LessThanThreshold",
            auc_floor,
            "ignore",
        ),
    ]
    return specs


def metric_alarm(
    name: str, spec: AlarmSpec, topic_arn: pulumi.Input[str], parent: pulumi.Resource
) -> aws.cloudwatch.MetricAlarm:
    """The alarm `name` for `spec`, over one period; if the spec `notifies`, it tells the topic when it fires and
    when it recovers."""
    actions = [topic_arn] if spec.notifies else []
    return aws.cloudwatch.MetricAlarm(
        name,
        alarm_description=spec.description,
        namespace=spec.namespace,
        metric_name=spec.metric_name,
        dimensions=dict(spec.dimensions),
        statistic=spec.statistic,
        period=spec.period,
        evaluation_periods=1,
        comparison_operator=spec.comparison,
        threshold=spec.threshold,
        treat_missing_data=spec.treat_missing_data,
        alarm_actions=actions,
        ok_actions=actions,
        opts=pulumi.ResourceOptions(parent=parent),
    )


@dataclass(frozen=True, slots=True)
class DashboardArgs:
    """Inputs of the Dashboard component. `functions` maps a label (etl, serving, alerting) to a function name."""

    region: str
    model_name: str
    functions: Mapping[str, pulumi.Input[str]]
    etl_failure_queue_name: pulumi.Input[str]
    payload_stream_name: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    auc_floor: float


class Dashboard(pulumi.ComponentResource):
    """The dashboard and the alarms (each that `notifies` tells the alert topic when it fires and when it recovers);
    `deploy_alarms` are those a canary deploy watches."""

    dashboard: aws.cloudwatch.Dashboard
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    deploy_alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=FORMER_TYPE)])
        super().__init__("autoretrain:dashboard:Dashboard", name, None, pulumi.ResourceOptions.merge(opts, renamed))
        child = pulumi.ResourceOptions(parent=self)
        labels = list(args.functions)
        names = pulumi.Output.all(
            *[args.functions[label] for label in labels], args.etl_failure_queue_name, args.payload_stream_name
        )

        def body(values: list[str]) -> str:
            return dashboard_body(
                region=args.region,
                model_name=args.model_name,
                functions=dict(zip(labels, values[:-2], strict=True)),
                etl_failure_queue=values[-2],
                payload_stream=values[-1],
            )

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=f"autoretrain-{args.model_name}-{pulumi.get_stack()}",
            dashboard_body=names.apply(body),
            opts=child,
        )
        self.alarms = {}
        self.deploy_alarms = []
        for spec in alarm_specs(
            model_name=args.model_name,
            functions=args.functions,
            etl_failure_queue=args.etl_failure_queue_name,
            auc_floor=args.auc_floor,
        ):
            self.alarms[spec.key] = metric_alarm(f"{name}-{spec.key}", spec, args.topic_arn, self)
            if spec.deploy_guard:
                self.deploy_alarms.append(self.alarms[spec.key])
        self.register_outputs({"dashboard": self.dashboard.dashboard_name})
