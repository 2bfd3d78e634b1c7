#!/usr/bin/env bash
# RabbitMQ 4.x from Debian sid, in a debootstrap chroot outside the repo, beside the local 3.x
# broker: AMQP on 127.0.0.1:5673, its own node name, epmd and distribution ports, and every
# deprecated feature the node knows denied. Needs root (debootstrap, chroot, mount).
#
#   scripts/rabbitmq4.sh build    # make the chroot and install rabbitmq-server (idempotent)
#   scripts/rabbitmq4.sh start    # build if needed, start, wait until guest can log in
#   scripts/rabbitmq4.sh stop     # stop the node, unmount /proc
#   scripts/rabbitmq4.sh status   # exit 0 when the node runs
#   scripts/rabbitmq4.sh ctl ...  # rabbitmqctl against that node
#   scripts/rabbitmq4.sh env      # exports for the tests: eval "$(scripts/rabbitmq4.sh env)"
set -euo pipefail

BASE=${CSMS_RABBITMQ4_DIR:-/var/cache/csms-rabbitmq4}
ROOT=$BASE/chroot # the Debian sid tree; BASE also holds logs and bin/ (host side)
PORT=${CSMS_RABBITMQ4_PORT:-5673}
# Not 4369/25672: those are the local 3.x node's epmd and distribution ports.
EPMD_PORT=${CSMS_RABBITMQ4_EPMD_PORT:-4370}
DIST_PORT=$((PORT + 20000))
NODE=rabbit4@localhost
SUITE=sid
MIRROR=${CSMS_RABBITMQ4_MIRROR:-http://deb.debian.org/debian}
STAMP=$BASE/.built

log() { echo "rabbitmq4: $*" >&2; }
die() {
  log "$*"
  exit 1
}

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
ctl() { in_root rabbitmqctl "$@"; }

# Every deprecated feature RabbitMQ 4.3 declares (management_metrics_collection: the management
# plugin's, off here); `start` fails if the node has one of them, or another, still permitted.
FEATURES=(
  amqp_address_v1
  amqp_filter_set_bug
  classic_queue_mirroring
  global_qos
  management_metrics_collection
  queue_master_locator
  ram_node_type
  transient_nonexcl_queues
)

write_config() {
  mkdir -p "$ROOT/etc/rabbitmq"
  cat >"$ROOT/etc/rabbitmq/rabbitmq-env.conf" <<EOF
NODENAME=$NODE
NODE_PORT=$PORT
DIST_PORT=$DIST_PORT
export ERL_EPMD_PORT=$EPMD_PORT
EOF
  {
    echo "listeners.tcp.1 = 127.0.0.1:$PORT"
    echo "loopback_users.guest = true"
    echo "log.console = false"
    echo "log.file.level = warning"
    for feature in "${FEATURES[@]}"; do
      echo "deprecated_features.permit.$feature = false"
    done
  } >"$ROOT/etc/rabbitmq/rabbitmq.conf"
  printf '[].\n' >"$ROOT/etc/rabbitmq/enabled_plugins"
  printf '127.0.0.1 localhost\n' >"$ROOT/etc/hosts"
  # A wrapper for the tests: `rabbitmqctl` first on PATH talks to this node, not the 3.x one.
  mkdir -p "$BASE/bin"
  cat >"$BASE/bin/rabbitmqctl" <<EOF
#!/usr/bin/env bash
exec chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 rabbitmqctl "\$@"
EOF
  chmod +x "$BASE/bin/rabbitmqctl"
}

build() {
  if [[ -f $STAMP ]]; then
    write_config
    return
  fi
  [[ $(id -u) == 0 ]] || die "needs root (debootstrap, chroot)"
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get install -y -q debootstrap >/dev/null || {
      apt-get update -q >/dev/null
      apt-get install -y -q debootstrap >/dev/null
    }
  fi
  stop_node
  rm -rf "$ROOT"
  mkdir -p "$BASE"
  log "debootstrap $SUITE into $ROOT"
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$BASE/debootstrap.log" 2>&1 ||
    die "debootstrap failed: see $BASE/debootstrap.log"
  # Packages must not start services inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod +x "$ROOT/usr/sbin/policy-rc.d"
  # The mirror's sid Release may be past its Valid-Until when this machine's clock runs ahead.
  echo 'Acquire::Check-Valid-Until "false";' >"$ROOT/etc/apt/apt.conf.d/99csms-no-valid-until"
  write_config
  log "installing rabbitmq-server from $SUITE"
  in_root apt-get update -q >/dev/null
  in_root apt-cache policy rabbitmq-server | sed -n 's/^ *Candidate: /rabbitmq4: candidate /p' >&2
  DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confold rabbitmq-server >"$BASE/install.log" 2>&1 ||
    die "apt-get install rabbitmq-server failed: see $BASE/install.log"
  in_root apt-get clean
  touch "$STAMP"
}

running() { [[ -f $STAMP ]] && ctl -q status >/dev/null 2>&1; }

stop_node() {
  if running; then
    log "stopping $NODE"
    ctl -q stop >/dev/null 2>&1 || true
  fi
  if [[ -d $ROOT/proc ]] && mountpoint -q "$ROOT/proc"; then
    umount "$ROOT/proc"
  fi
}

start() {
  build
  if running; then
    log "$NODE already runs on 127.0.0.1:$PORT"
    return
  fi
  # The memory monitor and the runtime read /proc.
  mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  mkdir -p "$ROOT/var/lib/rabbitmq" "$ROOT/var/log/rabbitmq"
  in_root chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
  log "starting $NODE on 127.0.0.1:$PORT"
  setsid chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    HOME=/var/lib/rabbitmq rabbitmq-server >"$BASE/server.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    ctl -q await_startup --timeout 1 >/dev/null 2>&1 && break
    sleep 1
  done
  ctl -q await_startup --timeout 5 >/dev/null || die "node did not start: see $BASE/server.log"
  ctl -q authenticate_user guest guest >/dev/null || die "guest cannot log in"
  check_denied
  log "$(ctl -q version) runs on 127.0.0.1:$PORT, deprecated features denied"
}

# Fails unless every deprecated feature the node knows is denied.
check_denied() {
  local states permitted
  states=$(ctl -q list_deprecated_features name state --formatter csv) ||
    die "cannot list deprecated features"
  permitted=$(tr -d '"' <<<"$states" | awk -F, 'NR > 1 && $2 != "denied" {print $1}')
  [[ -z $permitted ]] || die "not denied, add to FEATURES: $permitted"
}

case ${1:-} in
build) build ;;
start) start ;;
stop) stop_node ;;
status) running ;;
ctl)
  shift
  ctl "$@"
  ;;
env)
  printf 'export PATH=%q\n' "$BASE/bin:$PATH"
  printf 'export CSMS_TEST_BROKER_URL=%q\n' "amqp://guest:guest@127.0.0.1:$PORT/"
  ;;
*)
  sed -n '2,12s/^# \{0,1\}//p' "$0"
  exit 2
  ;;
esac
