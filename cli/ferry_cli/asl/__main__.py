"""`python -m ferry_cli.asl [--check]`: writes statemachine/*.asl.json from their Python definitions.

With --check nothing is written: the exit status is 1, and each stale file is named, if a committed file
differs from what its definition generates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferry_cli.asl import generate
from ferry_cli.cli import DEFAULT_TEMPLATE
from ferry_cli.template import SamTemplate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferry_cli.asl", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    parser.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="the SAM template (template.yaml)"
    )
    args = parser.parse_args(argv)
    template = SamTemplate.load(args.template)
    stale = [
        (path, text)
        for path, text in generate(template).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    for path, text in stale:
        shown = path.relative_to(template.root) if path.is_relative_to(template.root) else path
        if args.check:
            sys.stdout.write(
                f"{shown} differs from its definition in ferry_cli.asl; run python -m ferry_cli.asl\n"
            )
        else:
            path.write_text(text, encoding="utf-8")
            sys.stdout.write(f"wrote {shown}\n")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
