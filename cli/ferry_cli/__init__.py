"""Operator CLI and the local two-account twin (moto). Not shipped to Lambda."""
