"""The serving Lambda (container image, model baked in): validate, score, log the payload, answer.

The request/response contract is documented in `lambdas.serving.handler`.
"""
