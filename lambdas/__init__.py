"""AWS Lambda entry points: `lambdas.payload_etl:handler`, `lambdas.alerting:handler` and the serving image."""
