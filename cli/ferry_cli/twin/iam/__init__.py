"""IAM for the twin: policy evaluation, the operation map and the authorizer."""
