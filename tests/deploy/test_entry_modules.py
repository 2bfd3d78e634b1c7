"""Entry modules are named by what they hold: `action_*` the OCPP CALLs a service answers,
`follow_*` the events it follows, `rpc_*` its RPC methods; no other module registers one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KINDS = {
    "action_": re.compile(r"@router\.on(_batch)?\("),
    "follow_": re.compile(r"@router\.(event|on_event_group)\("),
    "rpc_": re.compile(r"@router\.rpc\("),
}


def test_every_entry_module_says_what_it_holds() -> None:
    found: dict[str, set[str]] = {}
    for module in sorted(ROOT.glob("services/*/src/*/**/*.py")):
        text = module.read_text()
        kinds = {prefix for prefix, pattern in KINDS.items() if pattern.search(text)}
        if kinds:
            found[str(module.relative_to(ROOT))] = kinds
    assert len(found) >= 20, found  # the services' entrypoints were found at all
    wrong = {
        path: sorted(kinds)
        for path, kinds in found.items()
        if kinds != {prefix for prefix in KINDS if Path(path).name.startswith(prefix)}
    }
    assert wrong == {}, "each entry module holds one kind and is named for it"
