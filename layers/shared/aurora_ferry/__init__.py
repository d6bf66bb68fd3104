"""aurora-ferry domain package, shipped to Lambda as the shared layer. Never imports moto, the twin or the CLI.

Packages, each with its public surface in its ``__init__`` (``__all__``), and what each may import:

- ``core``: the shared kernel (accounts and clients, errors, names, validation, tables, polling, snapshots,
  KMS key policies, summaries, the Lambda entry decorator); no other package.
- ``migration``: the cross-account snapshot migration; core.
- ``clone``: Aurora clones (same account, cross-account, dev refresh); core.
- ``waits``: the migration's event-driven waits; core.
- ``preflight``: the migration's read-only preflight; core and migration.

Nothing is imported here, so a handler loads only the packages it uses.
"""

__all__: list[str] = []
