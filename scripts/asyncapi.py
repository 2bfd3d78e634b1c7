"""Write docs/events.asyncapi.yaml from the event models (`make asyncapi`); --check compares."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from csms_shared.contracts.asyncapi import document

TARGET = Path(__file__).resolve().parent.parent / "docs" / "events.asyncapi.yaml"


class _Dumper(yaml.SafeDumper):
    """Block sequences indented under their key, as the repository's .yamllint wants."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def render() -> str:
    """The document as YAML, keys in the order the generator built them."""
    return yaml.dump(document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=72)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the document is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
