"""Local two-account AWS twin built on moto."""

from ferry_cli.twin.speedups import install_speedups

install_speedups()
