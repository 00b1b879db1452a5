"""The release pipeline's entry points, run by CodeBuild (buildspec.yml): `python -m deploy COMMAND`.

- `verify`: the release zip's model.pkl must hash to the SHA-256 the registry recorded for a released version
  (fail closed: any mismatch, a missing record or another status exits non-zero); stages the model directory
  for the image build and writes the version to a shell file the buildspec sources.
- `shift-alias`: points the serving function at the new image (by digest), waits for the update, publishes a
  version and moves the alias, all at once or through a canary watched by CloudWatch alarms; records the
  previous function version.
- `mark-deployed`: the version becomes the registry's champion (the previous one retired) and `ModelDeployed`
  goes to the bus.

Standard library, boto3 and `core` only: the CodeBuild environment installs just `requirements.txt` here.
"""
