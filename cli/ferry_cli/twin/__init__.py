"""Local two-account AWS twin built on moto."""
