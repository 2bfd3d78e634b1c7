"""The k8s broker users are what scripts/broker_users.py generates from csms_shared."""

from __future__ import annotations

import subprocess
import sys

from tests.deploy.support import ROOT

GENERATED = ROOT / "deploy" / "k8s" / "components" / "in-cluster-backends" / "broker-users.yaml"


def test_k8s_broker_users_are_generated_from_the_roles() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "broker_users.py"), "k8s"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert GENERATED.read_text() == result.stdout, "run: python scripts/broker_users.py k8s > …"
