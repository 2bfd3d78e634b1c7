"""Entry modules are named by what they hold: `action_*` the OCPP CALLs a service answers,
`follow_*` the events it follows, `rpc_*` its RPC methods; no other module registers one."""

from __future__ import annotations

import ast
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


ENTRY = re.compile(r"^(action|follow|rpc)_")


def _imported_entry_modules(path: Path) -> set[str]:
    """The entry modules (by name) of its own service that `path` imports from."""
    package = path.relative_to(ROOT).parts[3]  # services/<service>/src/<package>/...
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.partition(".")[0] != package:
                continue
            leaf = module.rpartition(".")[2]
            if ENTRY.match(leaf):
                found.add(leaf)
            found |= {alias.name for alias in node.names if ENTRY.match(alias.name)}
        elif isinstance(node, ast.Import):
            found |= {
                name.rpartition(".")[2]
                for name in (alias.name for alias in node.names)
                if name.partition(".")[0] == package and ENTRY.match(name.rpartition(".")[2])
            }
    return found


def test_entry_modules_hold_no_rules_others_import() -> None:
    """Only a service's `app.py` imports its entry modules (to register their handlers): a rule
    another module needs lives in a module named for its concept, not in an entry module."""
    modules = sorted(ROOT.glob("services/*/src/*/**/*.py"))
    entries: dict[str, set[str]] = {}  # package -> the names of its entry modules
    for module in modules:
        text = module.read_text()
        if any(pattern.search(text) for pattern in KINDS.values()):
            entries.setdefault(module.relative_to(ROOT).parts[3], set()).add(module.stem)
    assert entries, "the entry modules were found"
    wrong = {
        str(module.relative_to(ROOT)): sorted(found)
        for module in modules
        if module.name != "app.py"
        and (
            found := _imported_entry_modules(module)
            & entries.get(module.relative_to(ROOT).parts[3], set())
        )
    }
    assert wrong == {}, "import the shared rule from its own module"
