"""yamllint, with the repository's .yamllint, on every YAML file in the repository."""

from __future__ import annotations

import os
from pathlib import Path

from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.deploy.support import ROOT

CONFIG = YamlLintConfig(file=str(ROOT / ".yamllint"))


# Not walked at all (they are large and hold no YAML of ours), nor the other interpreters'
# .venv-<version>; .yamllint ignores them too.
SKIPPED_DIRS = {".git", ".venv", ".tools", ".hypothesis", ".mypy_cache", ".ruff_cache"}


def yaml_files() -> list[Path]:
    found = []
    for directory, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = [
            d for d in subdirectories if d not in SKIPPED_DIRS and not d.startswith(".venv-")
        ]
        for name in files:
            relative = str((Path(directory) / name).relative_to(ROOT))
            if CONFIG.is_yaml_file(relative) and not CONFIG.is_file_ignored(relative):
                found.append(ROOT / relative)
    return sorted(found)


def test_the_deployment_yaml_is_in_scope() -> None:
    names = {str(path.relative_to(ROOT)) for path in yaml_files()}
    assert {"docker-compose.yml", ".yamllint", "deploy/k8s/base/kustomization.yaml"} <= names
    assert not any(name.startswith((".venv/", ".tools/")) for name in names)


def test_yamllint_passes() -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{problem.line}:{problem.column}: {problem.message}"
        for path in yaml_files()
        for problem in linter.run(path.read_text(), CONFIG, str(path.relative_to(ROOT)))
    ]
    assert not problems, "\n".join(problems)
