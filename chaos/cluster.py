"""A 3-node RabbitMQ cluster of the run's own, on this machine, from the installed RabbitMQ.

Each node is a PrivateRabbit (chaos/servers.py) with its own node name, AMQP, distribution and
management ports and data directory; the three share an Erlang cookie of their own (HOME is the
cluster's directory, so the machine's cookie and its RabbitMQ on 5672 are never touched). The
second and third nodes `join_cluster` the first. Quorum queues get a replica on every node
(the default initial group size is the cluster's size) and their leaders are spread
(`queue_leader_locator = balanced`, and `rebalance` after a node comes back).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .servers import RABBITMQ_BIN, PrivatePostgres, PrivateRabbit, free_port, wait_port

NODES = 3
# The suite's durable service queues: what "busiest" is measured over.
SERVICE_QUEUE_SUFFIXES = (".calls", ".decisions", ".events")
# What the cluster's nodes are configured with beyond one node's settings; the production
# RabbitmqCluster (deploy/k8s/components/rabbitmq-cluster) carries the same (tests/deploy).
CLUSTER_CONFIG = (
    # A new quorum queue's leader goes to the node with the fewest leaders, not to the node
    # the declaring client is connected to.
    "queue_leader_locator = balanced",
    # A node cut off from the others stops rather than diverge.
    "cluster_partition_handling = pause_minority",
)


class ClusterNode(PrivateRabbit):
    """One node of the cluster: a PrivateRabbit with a name, a cookie and management."""

    def __init__(self, base: Path, index: int, cluster: str) -> None:
        super().__init__(base)
        self.index = index
        self.node = f"{cluster}-{index}@{socket.gethostname().split('.')[0]}"
        self.management_port = free_port()
        (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (base / "rabbitmq.conf").write_text(
            "loopback_users.guest = true\n"
            f"management.tcp.port = {self.management_port}\n"
            "management.tcp.ip = 127.0.0.1\n" + "".join(f"{line}\n" for line in CLUSTER_CONFIG)
        )
        self.env = self.env | {
            "RABBITMQ_NODENAME": self.node,
            "HOME": str(base.parent),  # the cluster's .erlang.cookie
        }

    @property
    def pid(self) -> int | None:
        """The node's Erlang VM, while it runs."""
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        """Start the node (a stale pid file of a killed node is removed first)."""
        self.pid_file.unlink(missing_ok=True)
        super().start()

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM: no goodbye to clients or to the other nodes."""
        pid = self.pid
        if pid is None:
            raise RuntimeError(f"{self.node} has no pid file; is it running?")
        os.kill(pid, signal.SIGKILL)
        wait_port(self.port, up=False, timeout=30)

    @property
    def log_file(self) -> Path:
        """The node's log (quorum queue leader changes among the rest)."""
        return self.base / "log" / f"{self.node}.log"

    def connections(self) -> int:
        """Client connections to this node now (management API)."""
        listed = self.api("connections?columns=name,node")
        assert isinstance(listed, list)
        return sum(1 for c in listed if c.get("node") == self.node)

    def api(self, path: str) -> object:
        """GET the management API of this node (guest, loopback)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.management_port}/api/{path}")
        token = "Basic Z3Vlc3Q6Z3Vlc3Q="  # guest:guest
        request.add_header("Authorization", token)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


@dataclass(frozen=True, slots=True)
class QueueLeader:
    """Where a quorum queue's leader is and how many messages went through it."""

    name: str
    leader: str
    published: int


class RabbitCluster:
    """Three ClusterNodes joined into one cluster."""

    def __init__(self, base: Path, size: int = NODES) -> None:
        base.mkdir(parents=True, exist_ok=True)
        cookie = base / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)
        name = f"csms-cluster-{os.getpid()}"
        self.nodes = [ClusterNode(base / f"node{i}", i, name) for i in range(size)]
        self.down: set[int] = set()

    @property
    def url(self) -> str:
        """The broker URL setting naming every node, comma-separated (bus/nodes.py)."""
        return ",".join(node.url for node in self.nodes)

    def live(self) -> ClusterNode:
        """A node that runs now: for rabbitmqctl and the checks' own connections."""
        for node in self.nodes:
            if node.index not in self.down:
                return node
        raise RuntimeError("every node of the cluster is down")

    def start(self) -> None:
        """Start the three nodes side by side, join the second and third to the first."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.start(), self.nodes))
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.node)
            node.ctl("start_app")
        first.ctl("await_online_nodes", str(len(self.nodes)), "--timeout", "120", timeout=150)

    def stop(self) -> None:
        """Stop every node still running."""
        for node in self.nodes:
            if node.index not in self.down:
                with contextlib.suppress(Exception):
                    node.stop()

    def running_nodes(self) -> list[str]:
        """The cluster's running nodes, as a live node sees them."""
        status = json.loads(self.live().ctl("cluster_status", "--formatter", "json"))
        return list(status.get("running_nodes", []))

    def leaders(self) -> list[QueueLeader]:
        """Every quorum queue's leader, with the messages published to it so far."""
        queues = self.live().api("queues?columns=name,type,leader,node,message_stats")
        assert isinstance(queues, list)
        return [
            QueueLeader(
                q["name"],
                q.get("leader") or q.get("node") or "",
                int((q.get("message_stats") or {}).get("publish", 0)),
            )
            for q in queues
            if q.get("type") == "quorum"
        ]

    def leaders_per_node(self) -> dict[str, int]:
        """How many quorum queue leaders each node holds."""
        return dict(Counter(q.leader for q in self.leaders()))

    def busiest_leader(self) -> tuple[ClusterNode, list[str]]:
        """The node whose led service queues carried the most messages so far, and every
        quorum queue it leads."""
        leaders = self.leaders()
        led: Counter[str] = Counter()
        for q in leaders:
            if q.name.endswith(SERVICE_QUEUE_SUFFIXES):
                led[q.leader] += q.published
        if not led:
            raise RuntimeError("no service queue has a leader yet")
        leader, _ = led.most_common(1)[0]
        node = next(n for n in self.nodes if n.node == leader)
        return node, sorted(q.name for q in leaders if q.leader == leader)

    def members(self) -> tuple[int, int]:
        """(quorum queues with a replica on every node, quorum queues)."""
        listing = self.live().ctl("list_queues", "-q", "--no-table-headers", "type", "members")
        rows = [line.split("\t", 1) for line in listing.splitlines() if line.strip()]
        quorum = [members for kind, members in rows if kind == "quorum"]
        full = sum(1 for m in quorum if all(n.node in m for n in self.nodes))
        return full, len(quorum)

    def leaders_off(self, node: ClusterNode) -> bool:
        """Whether every quorum queue has a leader on a node other than `node`."""
        return all(q.leader and q.leader != node.node for q in self.leaders())

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL a node."""
        self.down.add(node.index)
        node.kill()

    def stop_node(self, node: ClusterNode) -> None:
        """Stop a node the way ops (and the Kubernetes operator's pre-stop hook) do: drain it
        first (`rabbitmq-upgrade drain`: its quorum queue leaders move away, its clients are
        disconnected, it takes no new ones), then `rabbitmqctl stop`."""
        self.down.add(node.index)
        self._upgrade(node, "drain")
        node.stop()

    def restart(self, node: ClusterNode) -> None:
        """Start a node again; it rejoins the cluster from its data directory (and leaves
        maintenance mode if it was drained)."""
        node.start()
        self.down.discard(node.index)
        node.ctl("await_online_nodes", str(len(self.nodes)), "--timeout", "120", timeout=150)
        self._upgrade(node, "revive")

    def _upgrade(self, node: ClusterNode, command: str) -> None:
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmq-upgrade"), "-n", node.node, command],
            env=node.env,
            capture_output=True,
            text=True,
            timeout=180,
            cwd="/",
            check=True,
        )

    def quorum_safe_to_stop(self, node: ClusterNode, timeout: float) -> None:
        """Wait until stopping `node` would leave every quorum queue its majority (the node
        restarted before has caught up): `rabbitmq-queues check_if_node_is_quorum_critical`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                done = subprocess.run(
                    [
                        str(RABBITMQ_BIN / "rabbitmq-queues"),
                        "-n",
                        node.node,
                        "check_if_node_is_quorum_critical",
                    ],
                    env=node.env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    cwd="/",
                    check=False,
                )
            except subprocess.TimeoutExpired:
                # The CLI may take this long on a loaded machine while the node catches up:
                # not an answer, ask again until the deadline.
                output = "the check did not answer within 60 s"
            else:
                if done.returncode == 0:
                    return
                output = done.stdout[-500:]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.node} still quorum-critical: {output}")
            time.sleep(1)

    def rebalance(self) -> None:
        """Spread the quorum queue leaders over the running nodes again."""
        node = self.live()
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmq-queues"), "-n", node.node, "rebalance", "quorum"],
            env=node.env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
            check=True,
        )


@contextlib.contextmanager
def private_cluster(base: Path) -> Iterator[tuple[RabbitCluster, PrivatePostgres]]:
    """A 3-node RabbitMQ cluster and a Postgres cluster of the run's own; gone afterwards."""
    base.mkdir(parents=True, exist_ok=True)
    cluster = RabbitCluster(base / "rabbitmq")
    postgres = PrivatePostgres(base / "postgres")
    try:
        cluster.start()
        postgres.init()
        postgres.start()
        yield cluster, postgres
    finally:
        cluster.stop()
        with contextlib.suppress(Exception):
            postgres.stop()
        shutil.rmtree(base, ignore_errors=True)
