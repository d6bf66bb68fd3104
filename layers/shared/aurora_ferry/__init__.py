"""aurora-ferry domain package, shipped to Lambda as the shared layer. Never imports moto."""
