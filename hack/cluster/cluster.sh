#!/usr/bin/env bash
# A single-node Kubernetes cluster plus a TLS registry for the end-to-end tests, on this machine,
# without Docker and without anything leaving it.
#
#   hack/cluster/cluster.sh up       start everything (idempotent: a second `up` only checks)
#   hack/cluster/cluster.sh down     stop what `up` started and remove every trace of it
#   hack/cluster/cluster.sh status   say what runs (exit status 0 only if everything does)
#   hack/cluster/cluster.sh load F.tar...  import docker-archive images into the node's containerd
#   hack/cluster/cluster.sh registry stop|start  take the registry away and back (failure tests)
#   hack/cluster/cluster.sh kubelet restart      restart the kubelet under running pods (failure tests)
#
# What `up` makes (all state under $FLOW_STATE, default $FLOW_CACHE/cluster, outside the clone, and
# the containers' runtime state under $FLOW_RUN_DIR, default /run/flow-build):
#   - etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy (iptables
#     mode) at $KUBE_VERSION, built from the Go module proxy by hack/kube-binaries.sh;
#   - containerd $CONTAINERD_VERSION and runc $RUNC_VERSION, built from the Go module proxy by
#     hack/runtime-binaries.sh, with their own config, socket and directories; the CNI plugins from
#     Debian;
#   - a distribution registry with TLS (a CA made here) and htpasswd auth at $NODE_IP:$REGISTRY_PORT
#     (bcrypt at its lowest cost: this registry checks it on every request, where registries with
#     token authentication check a password once per token; see hack/mkimage htpasswd);
#   - the images the tests need: a pause image and the Kaniko executor imported into containerd, and a
#     busybox base image (an index of linux/amd64 and linux/arm64) pushed to the registry for example
#     Dockerfiles to build FROM;
#   - linux/arm64 emulation: qemu-user-static registered with binfmt_misc (only the entries not
#     registered yet; `down` removes exactly those) and the node labelled
#     emulation.build.fleetflow.dev/linux-arm64=true;
#   - $STATE/env.sh exporting KUBECONFIG, FLOW_REGISTRY, FLOW_REGISTRY_CA, DOCKER_CONFIG, KANIKO_IMAGE ...
#
# Network: the node address lives on a bridge with no ports ($NODE_BRIDGE), pods on a second bridge
# made by the CNI bridge plugin without masquerading, and a firewall chain drops pod traffic to any
# address that is neither a pod, a Service nor the node itself. Needs root and Linux.
#
# Pods may run in user namespaces (`hostUsers: false`): the kubelet gives each such pod 65,536 host
# IDs from 65536 up (there is no `kubelet` user with subordinate IDs), containerd idmaps the image's
# overlayfs and the pod's volumes onto them (Linux >= 6.3).
#
# Machine-specific settings this relies on: a hybrid cgroup v1 host (kubelet failCgroupV1=false;
# runc and containerd use cgroupfs), no CAP_SYS_RESOURCE (containerd restrict_oom_score_adj), no
# dummy netdev (hence the address-only bridge).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

STATE=${FLOW_STATE:-$FLOW_CACHE/cluster}
# Containers' runtime state (bundles with the root filesystems' mount points, network namespaces,
# shim sockets) lives on /run rather than in $STATE: in a user namespace, the container's root is
# an unprivileged user on the host and must be able to walk to its root filesystem, which it cannot
# below a private home directory (/root is 0700). Short, too: a shim socket path must fit in 108 bytes.
RUN_DIR=${FLOW_RUN_DIR:-/run/flow-build}

# Addresses. Private ranges chosen to be unlikely on a developer's LAN; all of them exist only on
# bridges this script creates. The Service range holds the `kubernetes` Service at its first address.
NODE_IP=10.200.0.1
NODE_BRIDGE=flow0
POD_CIDR=10.201.0.0/16
POD_GATEWAY=10.201.0.1
POD_BRIDGE=flowcni0
SERVICE_CIDR=10.0.0.0/24
KUBERNETES_SERVICE_IP=10.0.0.1
APISERVER_PORT=6443
REGISTRY_PORT=5443
REGISTRY=$NODE_IP:$REGISTRY_PORT
REGISTRY_USER=flow

NODE_NAME=flow-node
CNI_NETWORK=flowbuild
CGROUP_ROOT=flowbuild
FW_FORWARD=FLOW-FORWARD
FW_INPUT=FLOW-INPUT
PAUSE_IMAGE=localhost/pause:flow-1
KANIKO_IMAGE=localhost/kaniko-executor:$KANIKO_VERSION
BUSYBOX_REF=$REGISTRY/library/busybox:1.35

CONTAINERD_SOCK=$STATE/containerd/containerd.sock
KUBECONFIG_ADMIN=$STATE/kubeconfig

# Debian packages the node needs (libseccomp-dev, pkg-config and gcc build runc), and the sysctls
# that the kubelet and the CNI bridge plugin change (saved at the first `up`, put back by `down`).
PACKAGES=(containernetworking-plugins iptables conntrack busybox-static ca-certificates curl libseccomp-dev pkg-config gcc)
SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet)
# Host directories that the CNI plugins and the kubelet use outside their configured roots (libcni's
# result cache, the kubelet's log links and plugin sockets).
HOST_DIRS=(/var/lib/cni /var/log/containers /var/lib/kubelet)

# The daemons `up` starts (in this order) and `status` reports.
DAEMONS=(etcd containerd registry kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

T0=$(date +%s%N)
elapsed() { local n; n=$(date +%s%N); printf '%d.%01ds' $(((n - T0) / 1000000000)) $(((n - T0) / 100000000 % 10)); }
step() { log "[$(elapsed)] $*"; }

need_root() {
  [[ $(uname -s) == Linux ]] || die "the local cluster needs Linux"
  [[ $EUID -eq 0 ]] || die "the local cluster needs root (it creates bridges, iptables rules and mounts); run: sudo $0 $*"
}

# ---------------------------------------------------------------------------------------------
# Processes. Each daemon's PID file holds "PID BINARY", so that `down` and `status` never act on a
# recycled PID that now belongs to something else.

pidfile() { echo "$STATE/run/$1.pid"; }

daemon_pid() {
  local f pid bin exe
  f=$(pidfile "$1")
  [[ -f $f ]] || return 1
  read -r pid bin <"$f" || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ ${exe% (deleted)} == "$bin" ]] || return 1
  echo "$pid"
}

# start_daemon NAME BINARY ARGS...: starts it in its own session (so that a Ctrl-C in the terminal
# that ran `up` does not reach it), logging to $STATE/logs/NAME.log. Does nothing if it runs.
start_daemon() {
  local name=$1 bin=$2; shift 2
  daemon_pid "$name" >/dev/null && return 0
  bin=$(readlink -f "$bin")
  setsid "$bin" "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  local pid=$! i
  echo "$pid $bin" >"$(pidfile "$name")"
  # Until the forked shell has exec'd the daemon, /proc shows the shell; on a busy machine that
  # can take longer than a fixed pause.
  for ((i = 0; i < 100; i++)); do
    daemon_pid "$name" >/dev/null && return 0
    alive "$pid" || break
    sleep 0.05
  done
  tail -n 20 "$STATE/logs/$name.log" >&2
  die "$name exited at once (log: $STATE/logs/$name.log)"
}

# alive PID: the process exists and has not exited. An exited daemon stays a zombie until init
# reaps it, which on some machines takes seconds; it holds no ports or files by then.
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

stop_daemon() {
  local name=$1 pid i
  if pid=$(daemon_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then
      log "$name ($pid) did not stop within 10s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.05; done
    fi
  fi
  rm -f "$(pidfile "$name")"
}

# wait_for DAEMON SECONDS DESCRIPTION CMD...: polls CMD; fails early, with the daemon's log, if the
# daemon dies or the time runs out.
wait_for() {
  local name=$1 secs=$2 what=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! daemon_pid "$name" >/dev/null; then
      tail -n 30 "$STATE/logs/$name.log" >&2
      die "$name stopped while waiting for $what (log: $STATE/logs/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$STATE/logs/$name.log" >&2
      die "timed out after ${secs}s waiting for $what (log: $STATE/logs/$name.log)"
    fi
    sleep 0.2
  done
}

kubectl_() { "$KBIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
# ctr repeats containerd's deprecation notices on every call; on a cgroup v1 host that is one line
# about cgroup v1 (supported until 2029). `ctr deprecations list` still shows them.
ctr_() { CONTAINERD_SUPPRESS_DEPRECATION_WARNINGS=1 "$STATE/bin/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# ---------------------------------------------------------------------------------------------
# Prerequisites (Debian packages: need_packages in lib.sh)

ensure_binaries() {
  KBIN=$("$HACK_DIR/kube-binaries.sh" node)
  "$HACK_DIR/runtime-binaries.sh" "$STATE/bin"
  KANIKO_BIN=$FLOW_CACHE/bin/kaniko-executor-$KANIKO_VERSION
  REGISTRY_BIN=$FLOW_CACHE/bin/registry-$DISTRIBUTION_VERSION
  with_lock kaniko go_tool_build "$FLOW_CACHE/src/kaniko-$KANIKO_VERSION" "$KANIKO_BIN" \
    "github.com/GoogleContainerTools/kaniko@$KANIKO_VERSION" github.com/GoogleContainerTools/kaniko/cmd/executor \
    "-s -w -X github.com/GoogleContainerTools/kaniko/pkg/version.version=$KANIKO_VERSION"
  with_lock registry go_tool_build "$FLOW_CACHE/src/registry-$DISTRIBUTION_VERSION" "$REGISTRY_BIN" \
    "github.com/distribution/distribution/v3@$DISTRIBUTION_VERSION" github.com/distribution/distribution/v3/cmd/registry
  # The image tool and the pause program are part of this repository, so they are rebuilt (from
  # Go's build cache, in about a second) on each `up` rather than cached by version.
  (cd "$REPO_ROOT" && go build -o "$STATE/bin/mkimage" ./hack/mkimage &&
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$STATE/bin/pause" ./hack/mkimage/pause)
  MKIMAGE=$STATE/bin/mkimage
}

# The first `up` refuses to run next to another Kubernetes node: `down` removes every KUBE-*
# iptables chain, which is only safe when this script's kube-proxy and kubelet made them all.
preflight_first_up() {
  if iptables-save 2>/dev/null | grep -q '^:KUBE-'; then
    die "iptables already holds KUBE-* chains: another Kubernetes node seems to run on this machine; stop it first"
  fi
  local d
  : >"$STATE/preexisting"
  for d in "${HOST_DIRS[@]}"; do [[ -e $d ]] && echo "$d" >>"$STATE/preexisting"; done
  local k
  : >"$STATE/sysctl.saved"
  for k in "${SYSCTLS[@]}"; do
    sysctl -n "$k" >/dev/null 2>&1 && echo "$k=$(sysctl -n "$k")" >>"$STATE/sysctl.saved"
  done
}

# ---------------------------------------------------------------------------------------------
# Certificates, credentials and configuration files (made once per state directory)

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

make_pki() {
  local p=$STATE/pki
  [[ -f $p/done ]] && return 0
  mkdir -p "$p"
  "$MKIMAGE" ca --cn flow-cluster-ca --cert "$p/ca.crt" --key "$p/ca.key"
  "$MKIMAGE" cert --ca-cert "$p/ca.crt" --ca-key "$p/ca.key" --cn kube-apiserver --server \
    --san kubernetes --san kubernetes.default --san kubernetes.default.svc \
    --san kubernetes.default.svc.cluster.local --san localhost --san 127.0.0.1 \
    --san "$KUBERNETES_SERVICE_IP" --san "$NODE_IP" --cert "$p/apiserver.crt" --key "$p/apiserver.key"
  "$MKIMAGE" cert --ca-cert "$p/ca.crt" --ca-key "$p/ca.key" --cn kube-apiserver-kubelet-client \
    --org system:masters --client --cert "$p/apiserver-kubelet-client.crt" --key "$p/apiserver-kubelet-client.key"
  "$MKIMAGE" keypair --key "$p/sa.key" --pub "$p/sa.pub"
  "$MKIMAGE" ca --cn flow-registry-ca --cert "$p/registry-ca.crt" --key "$p/registry-ca.key"
  "$MKIMAGE" cert --ca-cert "$p/registry-ca.crt" --ca-key "$p/registry-ca.key" --cn flow-registry --server \
    --san "$NODE_IP" --san 127.0.0.1 --san localhost --cert "$p/registry.crt" --key "$p/registry.key"
  # Host-side programs (the flow CLI, go-containerregistry) trust the registry through this bundle.
  cat /etc/ssl/certs/ca-certificates.crt "$p/registry-ca.crt" >"$p/ca-bundle.crt"

  # Bearer tokens, one per identity; the apiserver reads them from a static token file.
  local user
  (
    umask 077
    for user in admin kcm scheduler kubelet proxy; do random_hex 24 >"$p/token-$user"; done
    printf '%s,admin,uid-admin,"system:masters"\n' "$(cat "$p/token-admin")"
    printf '%s,system:kube-controller-manager,uid-kcm\n' "$(cat "$p/token-kcm")"
    printf '%s,system:kube-scheduler,uid-scheduler\n' "$(cat "$p/token-scheduler")"
    printf '%s,system:node:%s,uid-kubelet,"system:nodes"\n' "$(cat "$p/token-kubelet")" "$NODE_NAME"
    printf '%s,system:kube-proxy,uid-kube-proxy\n' "$(cat "$p/token-proxy")"
  ) >"$p/tokens.csv"
  chmod 600 "$p/tokens.csv"

  # Registry credentials: a random password, its bcrypt hash for the registry, and a Docker config
  # for host-side clients (the same file becomes the push Secret in the tests).
  mkdir -p "$STATE/registry" "$STATE/docker"
  (umask 077 && random_hex 16 >"$STATE/registry/password" && random_hex 16 >"$STATE/registry/http-secret")
  "$MKIMAGE" htpasswd --username "$REGISTRY_USER" --password-file "$STATE/registry/password" --out "$STATE/registry/htpasswd"
  "$MKIMAGE" dockerconfig --registry "$REGISTRY" --username "$REGISTRY_USER" \
    --password-file "$STATE/registry/password" --out "$STATE/docker/config.json"
  touch "$p/done"
}

# kubeconfig FILE USER TOKEN_FILE
kubeconfig() {
  local ca
  ca=$(base64 -w0 <"$STATE/pki/ca.crt")
  (
    umask 077
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: flow
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority-data: $ca
users:
- name: $2
  user:
    token: $(cat "$3")
contexts:
- name: flow
  context:
    cluster: flow
    user: $2
current-context: flow
EOF
  )
}

write_configs() {
  local c=$STATE/config
  mkdir -p "$c" "$STATE/cni/net.d" "$STATE/containerd/certs.d/$REGISTRY"
  kubeconfig "$KUBECONFIG_ADMIN" admin "$STATE/pki/token-admin"
  kubeconfig "$c/kcm.kubeconfig" system:kube-controller-manager "$STATE/pki/token-kcm"
  kubeconfig "$c/scheduler.kubeconfig" system:kube-scheduler "$STATE/pki/token-scheduler"
  kubeconfig "$c/kubelet.kubeconfig" "system:node:$NODE_NAME" "$STATE/pki/token-kubelet"
  kubeconfig "$c/proxy.kubeconfig" system:kube-proxy "$STATE/pki/token-proxy"

  # containerd: everything under $STATE and $RUN_DIR, its own sockets, no drop-in files from /etc,
  # nothing of the host's (NRI socket, /opt) touched; the CRI settings this machine needs.
  cat >"$c/containerd.toml" <<EOF
version = 4
root = "$STATE/containerd/root"
state = "$RUN_DIR/containerd"
imports = []
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.snapshotter.v1.zfs",
]

[plugins."io.containerd.server.v1.grpc"]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.server.v1.ttrpc"]
  address = "$CONTAINERD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"

[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "$RUN_DIR/s"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$PAUSE_IMAGE"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "$STATE/containerd/certs.d"

[plugins."io.containerd.cri.v1.runtime"]
  # The kubelet asks for oom_score_adj -998 for sandboxes; without CAP_SYS_RESOURCE runc cannot
  # lower it and every sandbox fails ("can't get final child's PID from pipe").
  restrict_oom_score_adj = true
  # Pod network namespaces live below containerd's state directory, not in the host's /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      # Our shim, whatever else PATH holds (a distribution's containerd 1.x, for one).
      runtime_path = "$STATE/bin/containerd-shim-runc-v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "$STATE/bin/runc"
        Root = "$STATE/containerd/runc"
        SystemdCgroup = false
EOF
  cat >"$STATE/containerd/certs.d/$REGISTRY/hosts.toml" <<EOF
server = "https://$REGISTRY"

[host."https://$REGISTRY"]
  capabilities = ["pull", "resolve", "push"]
  ca = "$STATE/pki/registry-ca.crt"
EOF

  # CNI: no masquerading, so pod traffic can only reach what the host routes locally.
  cat >"$STATE/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF

  cat >"$c/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has hybrid cgroups (v1 controllers); 1.37 refuses cgroup v1 unless told otherwise.
failCgroupV1: false
# Container exits reach the kubelet as CRI events and trigger an immediate relist of that pod
# instead of waiting for the next one-second relist, which put whole-second steps into every build
# (a trivial build's wall time: 4.0 s without, 2.1 s with).
featureGates:
  EventedPLEG: true
# Pods' cgroups go below /$CGROUP_ROOT so that \`down\` removes exactly what the node created.
cgroupRoot: /$CGROUP_ROOT
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
podLogsDir: $STATE/pod-logs
failSwapOn: false
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# Never evict or garbage-collect on a busy developer disk: the imported images cannot be pulled again.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Raising its own OOM priority needs CAP_SYS_RESOURCE, which this kind of machine may lack.
oomScoreAdj: 0
EOF

  cat >"$c/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
clientConnection:
  kubeconfig: $c/proxy.kubeconfig
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
# Leave the host's conntrack table and route_localnet as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
# Raising its own OOM priority needs CAP_SYS_RESOURCE, which this kind of machine may lack.
oomScoreAdj: 0
EOF

  cat >"$STATE/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog: {disabled: true}
storage:
  filesystem: {rootdirectory: $STATE/registry/data}
  delete: {enabled: true}
http:
  addr: $REGISTRY
  secret: $(cat "$STATE/registry/http-secret")
  tls:
    certificate: $STATE/pki/registry.crt
    key: $STATE/pki/registry.key
auth:
  htpasswd: {realm: flow-registry, path: $STATE/registry/htpasswd}
EOF
}

# ---------------------------------------------------------------------------------------------
# Network

setup_network() {
  ip link show "$NODE_BRIDGE" >/dev/null 2>&1 || ip link add "$NODE_BRIDGE" type bridge
  ip -4 addr show dev "$NODE_BRIDGE" | grep -q " $NODE_IP/32 " || ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up

  # Pod egress: pods may talk to pods, Services and the node's own addresses; everything else is
  # dropped, so nothing a build does can leave the machine. Nothing from outside reaches the pods.
  iptables -w -N "$FW_FORWARD" 2>/dev/null || iptables -w -F "$FW_FORWARD"
  iptables -w -A "$FW_FORWARD" -s "$POD_CIDR" -d "$POD_CIDR" -j RETURN
  iptables -w -A "$FW_FORWARD" -s "$POD_CIDR" -d "$SERVICE_CIDR" -j RETURN
  iptables -w -A "$FW_FORWARD" -s "$POD_CIDR" -m addrtype --dst-type LOCAL -j RETURN
  iptables -w -A "$FW_FORWARD" -s "$POD_CIDR" -m comment --comment "flow-build: pods reach nothing off this machine" -j DROP
  iptables -w -A "$FW_FORWARD" -d "$POD_CIDR" -m comment --comment "flow-build: pods are reachable from this machine only" -j DROP
  # The node address (API server, kubelet, registry) answers this machine and its pods only.
  iptables -w -N "$FW_INPUT" 2>/dev/null || iptables -w -F "$FW_INPUT"
  iptables -w -A "$FW_INPUT" -i lo -j RETURN
  iptables -w -A "$FW_INPUT" -i "$POD_BRIDGE" -s "$POD_CIDR" -j RETURN
  iptables -w -A "$FW_INPUT" -m comment --comment "flow-build: node address is local only" -j DROP
  ensure_firewall_first
}

# ensure_firewall_first keeps the jumps to our chains at the top of FORWARD and INPUT: kube-proxy
# prepends its own accept rules (for established and masqueraded traffic) when it starts.
ensure_firewall_first() {
  local hook chain target match
  for hook in "FORWARD $FW_FORWARD" "INPUT $FW_INPUT"; do
    read -r chain target <<<"$hook"
    match=()
    [[ $chain == INPUT ]] && match=(-d "$NODE_IP/32")
    if [[ $(iptables -w -S "$chain" | sed -n 2p) != "-A $chain ${match[*]}${match:+ }-j $target" ]]; then
      while iptables -w -D "$chain" "${match[@]}" -j "$target" 2>/dev/null; do :; done
      iptables -w -I "$chain" 1 "${match[@]}" -j "$target"
    fi
  done
}

# Pre-creates the pods' cgroup parent in every mounted hierarchy (the kubelet checks it exists).
setup_cgroups() {
  local m
  for m in /sys/fs/cgroup/*/; do
    [[ -d $m ]] || continue
    mkdir -p "$m$CGROUP_ROOT"
    # A new cpuset cgroup starts with no CPUs or memory nodes; inherit the parent's.
    if [[ -f $m$CGROUP_ROOT/cpuset.cpus && -z $(cat "$m$CGROUP_ROOT/cpuset.cpus") ]]; then
      cat "${m}cpuset.cpus" >"$m$CGROUP_ROOT/cpuset.cpus"
      cat "${m}cpuset.mems" >"$m$CGROUP_ROOT/cpuset.mems"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Emulated platforms. The node is amd64; builds for linux/arm64 run their RUN steps through QEMU
# (Debian's qemu-user-static), registered with binfmt_misc by hand: without systemd nothing
# registers the package's handlers. Debian's registration strings carry the F flag (the kernel
# opens the emulator at registration, so it works inside containers, which do not have it) and P.
# `up` registers only what is not registered yet and records what it registered and whether it
# mounted binfmt_misc in $STATE/binfmt; `down` removes exactly that. Entries someone else made are
# left alone, and never is every entry removed at once.

BINFMT=/proc/sys/fs/binfmt_misc
# Go architecture (the node label's suffix) = binfmt_misc entry of qemu-user-static.
EMULATED=(arm64=qemu-aarch64)
# An arm64 busybox for the multi-platform base image, cached across clusters.
BUSYBOX_ARM64_DIR=$FLOW_CACHE/debs/busybox-static-arm64

register_emulation() {
  need_packages qemu-user-static
  if ! mountpoint -q "$BINFMT"; then
    mount -t binfmt_misc binfmt_misc "$BINFMT"
    echo mounted >>"$STATE/binfmt"
  fi
  local e entry
  for e in "${EMULATED[@]}"; do
    entry=${e#*=}
    if [[ -e $BINFMT/$entry ]]; then
      grep -q '^flags:.*F' "$BINFMT/$entry" ||
        log "warning: binfmt_misc entry $entry (not made here, left alone) lacks the F flag: emulated RUN steps will fail"
      continue
    fi
    # The kernel decodes the \x escapes; a write that fails with EEXIST means someone else
    # registered it meanwhile, and it is theirs.
    if cat "/usr/lib/binfmt.d/$entry.conf" >"$BINFMT/register" 2>/dev/null; then
      echo "$entry" >>"$STATE/binfmt"
    fi
  done
}

unregister_emulation() {
  [[ -f $STATE/binfmt ]] || return 0
  local entry
  while read -r entry; do
    [[ $entry == mounted ]] && continue
    # Writing -1 to an entry removes that entry only.
    if [[ -e $BINFMT/$entry ]]; then echo -1 >"$BINFMT/$entry"; fi
  done <"$STATE/binfmt"
  # Unmounted only if this script mounted it and nobody registered anything since.
  if grep -qx mounted "$STATE/binfmt" && mountpoint -q "$BINFMT" &&
    [[ -z $(find "$BINFMT" -mindepth 1 -maxdepth 1 ! -name register ! -name status) ]]; then
    umount "$BINFMT"
  fi
  rm -f "$STATE/binfmt"
}

# emulation_works runs the arm64 busybox on the host: the proof that the handler is there.
emulation_works() {
  [[ $("$BUSYBOX_ARM64_DIR/bin/busybox" uname -m 2>/dev/null) == aarch64 ]]
}

# label_emulation tells the operator which platforms the node emulates (one label per platform).
label_emulation() {
  local e
  for e in "${EMULATED[@]}"; do
    kubectl_ label node "$NODE_NAME" --overwrite "emulation.build.fleetflow.dev/linux-${e%%=*}=true" >/dev/null
  done
}

# fetch_busybox_arm64 downloads Debian's busybox-static for arm64 with apt's own state in the cache,
# so that the host's dpkg gains no foreign architecture.
fetch_busybox_arm64() {
  [[ -x $BUSYBOX_ARM64_DIR/bin/busybox ]] && return 0
  local d=$FLOW_CACHE/apt-arm64
  rm -rf "$d" && mkdir -p "$d"/{lists/partial,cache/archives/partial,state,deb} && touch "$d/status"
  local opts=(-qq -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State="$d/state"
    -o Dir::State::Lists="$d/lists" -o Dir::State::status="$d/status" -o Dir::Cache="$d/cache"
    -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update >/dev/null || die "apt-get update of the arm64 package lists failed"
  (cd "$d/deb" && apt-get "${opts[@]}" download busybox-static:arm64 >/dev/null) || die "apt-get download busybox-static:arm64 failed"
  rm -rf "$BUSYBOX_ARM64_DIR.tmp" && mkdir -p "$BUSYBOX_ARM64_DIR.tmp" && dpkg-deb -x "$d"/deb/busybox-static_*_arm64.deb "$BUSYBOX_ARM64_DIR.tmp"
  rm -rf "$BUSYBOX_ARM64_DIR" && mv "$BUSYBOX_ARM64_DIR.tmp" "$BUSYBOX_ARM64_DIR"
  rm -rf "$d"
}

# ---------------------------------------------------------------------------------------------
# Images

build_images() {
  local i=$STATE/images
  mkdir -p "$i"
  [[ -f $i/pause.tar ]] || "$MKIMAGE" pause --bin "$STATE/bin/pause" --tag "$PAUSE_IMAGE" --out "$i/pause.tar" >/dev/null
  [[ -f $i/busybox.tar ]] || "$MKIMAGE" busybox --busybox /bin/busybox --tag "$BUSYBOX_REF" --out "$i/busybox.tar" >/dev/null
  [[ -f $i/busybox-arm64.tar ]] || "$MKIMAGE" busybox --busybox "$BUSYBOX_ARM64_DIR/bin/busybox" --applets-from /bin/busybox \
    --platform linux/arm64 --tag "$BUSYBOX_REF" --out "$i/busybox-arm64.tar" >/dev/null
  [[ -f $i/kaniko.tar ]] || "$MKIMAGE" kaniko --executor "$KANIKO_BIN" --ca "$STATE/pki/registry-ca.crt" \
    --ca /etc/ssl/certs/ca-certificates.crt --tag "$KANIKO_IMAGE" --out "$i/kaniko.tar" >/dev/null
}

import_images() {
  local have name tar
  have=$(ctr_ images ls -q)
  for name in "$PAUSE_IMAGE=pause" "$KANIKO_IMAGE=kaniko"; do
    tar=$STATE/images/${name#*=}.tar
    grep -qxF "${name%=*}" <<<"$have" || ctr_ images import "$tar" >/dev/null
  done
}

# push_busybox pushes the base image as an index of linux/amd64 and linux/arm64 images.
push_busybox() {
  [[ -f $STATE/images/busybox.pushed ]] && return 0
  "$MKIMAGE" push --tar "$STATE/images/busybox.tar" --tar "$STATE/images/busybox-arm64.tar" --ref "$BUSYBOX_REF" --ca "$STATE/pki/registry-ca.crt" \
    --username "$REGISTRY_USER" --password-file "$STATE/registry/password" >"$STATE/images/busybox.pushed"
}

# ---------------------------------------------------------------------------------------------

node_ready() {
  [[ $(kubectl_ get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

write_env() {
  cat >"$STATE/env.sh" <<EOF
# Written by hack/cluster/cluster.sh up. Source it: . $STATE/env.sh
export KUBECONFIG=$KUBECONFIG_ADMIN
export FLOW_REGISTRY=$REGISTRY
export FLOW_REGISTRY_CA=$STATE/pki/registry-ca.crt
export FLOW_REGISTRY_USER=$REGISTRY_USER
export FLOW_REGISTRY_PASSWORD_FILE=$STATE/registry/password
export FLOW_BASE_IMAGE=$BUSYBOX_REF
export DOCKER_CONFIG=$STATE/docker
export KANIKO_IMAGE=$KANIKO_IMAGE
export FLOW_CONTAINERD_SOCK=$CONTAINERD_SOCK
export FLOW_CTR=$STATE/bin/ctr
# The registry's own key pair, for tests that serve as the registry (a fault-injecting proxy).
export FLOW_REGISTRY_CERT=$STATE/pki/registry.crt
export FLOW_REGISTRY_KEY=$STATE/pki/registry.key
export FLOW_KUBE_BIN=$KBIN
# Go programs on the host (the flow CLI) trust the registry's CA through this bundle (system roots + it).
export SSL_CERT_FILE=$STATE/pki/ca-bundle.crt
export PATH=$KBIN:\$PATH
EOF
}

start_kubelet() {
  start_daemon kubelet "$KBIN/kubelet" --config="$STATE/config/kubelet.yaml" \
    --kubeconfig="$STATE/config/kubelet.kubeconfig" --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" \
    --node-ip="$NODE_IP" --hostname-override="$NODE_NAME" --v=1
}

cmd_up() {
  need_root up
  step "up: state in $STATE"
  need_packages "${PACKAGES[@]}"
  mkdir -p "$STATE"/{run,logs,bin}
  [[ -f $STATE/preexisting ]] || preflight_first_up
  ensure_binaries
  step "binaries ready ($KBIN)"
  make_pki
  write_configs
  setup_network
  setup_cgroups
  step "certificates, configuration and network ready"
  with_lock busybox-arm64 fetch_busybox_arm64
  register_emulation
  emulation_works || die "linux/arm64 programs do not run on this machine although binfmt_misc was set up (see $BINFMT)"
  step "linux/arm64 programs run here under QEMU (binfmt_misc: $(tr '\n' ' ' <"$STATE/binfmt" 2>/dev/null || echo "registered before"))"

  # Images are assembled while the control plane starts.
  local images_log=$STATE/logs/images.log images_pid
  (build_images) >"$images_log" 2>&1 &
  images_pid=$!

  start_daemon etcd "$KBIN/etcd" --name flow --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster flow=http://127.0.0.1:2380 --unsafe-no-fsync=true --log-level=warn
  start_daemon containerd "$STATE/bin/containerd" --config "$STATE/config/containerd.toml"
  start_daemon registry "$REGISTRY_BIN" serve "$STATE/registry/config.yml"
  wait_for etcd 30 "etcd to be healthy" curl -fs http://127.0.0.1:2379/health
  step "etcd healthy"

  local p=$STATE/pki
  start_daemon kube-apiserver "$KBIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$NODE_IP" --secure-port="$APISERVER_PORT" --advertise-address="$NODE_IP" \
    --service-cluster-ip-range="$SERVICE_CIDR" --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
    --client-ca-file="$p/ca.crt" --token-auth-file="$p/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-account-key-file="$p/sa.pub" \
    --service-account-signing-key-file="$p/sa.key" --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$p/apiserver-kubelet-client.key" --kubelet-preferred-address-types=InternalIP \
    --enable-admission-plugins=NodeRestriction --allow-privileged=true --profiling=false
  # /readyz answers 500 until RBAC is bootstrapped; only a 200 counts (kubectl fails on 500).
  wait_for kube-apiserver 90 "the API server to be ready" kubectl_ get --raw=/readyz
  step "kube-apiserver ready"

  start_daemon kube-controller-manager "$KBIN/kube-controller-manager" --kubeconfig="$STATE/config/kcm.kubeconfig" \
    --authentication-kubeconfig="$STATE/config/kcm.kubeconfig" --authorization-kubeconfig="$STATE/config/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --service-account-private-key-file="$p/sa.key" \
    --root-ca-file="$p/ca.crt" --use-service-account-credentials=true \
    --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" --profiling=false
  start_daemon kube-scheduler "$KBIN/kube-scheduler" --kubeconfig="$STATE/config/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/config/scheduler.kubeconfig" --authorization-kubeconfig="$STATE/config/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false
  wait_for containerd 30 "containerd to answer" ctr_ version
  start_kubelet
  start_daemon kube-proxy "$KBIN/kube-proxy" --config="$STATE/config/kube-proxy.yaml" --v=1
  step "controller-manager, scheduler, containerd, kubelet and kube-proxy started"

  wait "$images_pid" || { cat "$images_log" >&2; die "building the images failed (log: $images_log)"; }
  import_images
  step "images $PAUSE_IMAGE and $KANIKO_IMAGE imported into containerd"
  wait_for registry 30 "the registry to answer" \
    bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --cacert '$p/registry-ca.crt' https://$REGISTRY/v2/) == 401 ]]"
  push_busybox
  step "registry ready at $REGISTRY; pushed $BUSYBOX_REF"

  wait_for kubelet 60 "node $NODE_NAME to be Ready" node_ready
  label_emulation
  wait_for kube-controller-manager 60 "the default ServiceAccount" kubectl_ -n default get serviceaccount default
  ensure_firewall_first
  write_env
  step "cluster ready — . $STATE/env.sh"
}

# ---------------------------------------------------------------------------------------------
# down

# Our mounts: everything below the state and run directories (container root filesystems, pod
# volumes, sandbox /dev/shm, the pods' network namespaces).
our_mounts() {
  awk -v s="$STATE/" -v r="$RUN_DIR/" '{ if (index($5, s) == 1 || index($5, r) == 1) print $5 }' /proc/self/mountinfo
}

unmount_all() {
  local m mounts
  for _ in 1 2 3; do
    mapfile -t mounts < <(our_mounts | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- | uniq)
    ((${#mounts[@]})) || return 0
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
  [[ -z $(our_mounts) ]] || die "could not unmount: $(our_mounts | tr '\n' ' ')"
}

running_tasks() { ctr_ tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING" { found = 1 } END { exit !found }'; }

# remove_containers: the kubelet is stopped by now; kill what it left running, remembering the
# containers (libcni caches a result per sandbox outside the state directory).
remove_containers() {
  local ids id
  ids=$(ctr_ containers ls -q 2>/dev/null) || return 0
  for id in $ids; do echo "$id" >>"$STATE/containers"; done
  for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
  for id in $ids; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do ctr_ tasks delete "$id" >/dev/null 2>&1 && break; ctr_ tasks ls -q | grep -qx "$id" || break; sleep 0.2; done
    ctr_ containers delete "$id" >/dev/null 2>&1 || true
  done
}

# Shims outlive containerd; ours are the ones talking to our socket. Any other process run from
# the tool cache whose command line names the state directory is one of our daemons that its PID
# file lost track of (an `up` that stopped half-way); it goes too, with a warning.
kill_leftovers() {
  local pid exe killed=() i
  while read -r pid; do
    [[ $pid == "$$" ]] && continue
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    [[ $exe == "$FLOW_CACHE"/* ]] || continue
    [[ $exe == *containerd-shim* ]] || log "warning: killing ${exe##*/} ($pid), which no PID file named"
    kill -KILL "$pid" 2>/dev/null && killed+=("$pid")
  done < <(grep -lsaF -- "$STATE/" /proc/[0-9]*/cmdline | cut -d/ -f3)
  for pid in "${killed[@]}"; do
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.05; done
  done
}

# Deletes the KUBE-* chains kube-proxy and the kubelet left behind (only ours exist: see
# preflight_first_up), and our own rules.
cleanup_iptables() {
  if [[ -n ${KBIN:-} && -x $KBIN/kube-proxy ]]; then "$KBIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  local ipt table chain rule
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for table in filter nat mangle raw; do
      # Rules in built-in chains that jump to KUBE-* chains, then the chains themselves.
      while read -r rule; do
        eval "$ipt -w -t $table ${rule/-A/-D}" 2>/dev/null || true
      done < <("$ipt-save" -t "$table" 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -vE '^-A KUBE-' || true)
      for chain in $("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
        "$ipt" -w -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
        "$ipt" -w -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  while iptables -w -D FORWARD -j "$FW_FORWARD" 2>/dev/null; do :; done
  while iptables -w -D INPUT -d "$NODE_IP" -j "$FW_INPUT" 2>/dev/null; do :; done
  local c
  for c in "$FW_FORWARD" "$FW_INPUT"; do
    iptables -w -F "$c" 2>/dev/null || true
    iptables -w -X "$c" 2>/dev/null || true
  done
}

cleanup_host_dirs() {
  # libcni's result cache (/var/lib/cni/results): entries of our network, and the loopback entries
  # of sandboxes that were killed rather than torn down by the kubelet.
  rm -f /var/lib/cni/results/"$CNI_NETWORK"-* 2>/dev/null || true
  local id
  if [[ -f $STATE/containers ]]; then
    while read -r id; do rm -f /var/lib/cni/results/cni-loopback-"$id"-lo; done <"$STATE/containers"
  fi
  # The kubelet's legacy log symlinks point into our podLogsDir.
  local l
  for l in /var/log/containers/*.log; do
    [[ -L $l && $(readlink "$l") == "$STATE"/* ]] && rm -f "$l"
  done
  # The kubelet's device-plugin registration socket, in a directory the kubelet does not let us move.
  grep -qxF /var/lib/kubelet "$STATE/preexisting" 2>/dev/null || rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  # Directories that did not exist before the first `up`, if nothing else uses them now.
  local d
  for d in "${HOST_DIRS[@]}"; do
    grep -qxF "$d" "$STATE/preexisting" 2>/dev/null && continue
    [[ -d $d ]] && find "$d" -depth -type d -empty -delete 2>/dev/null
  done
  return 0
}

cleanup_cgroups() {
  local m
  for m in /sys/fs/cgroup/*/; do
    [[ -d $m$CGROUP_ROOT ]] || continue
    find "$m$CGROUP_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [[ -d $m$CGROUP_ROOT ]] && log "warning: could not remove cgroup $m$CGROUP_ROOT (processes still in it?)"
  done
  return 0
}

restore_sysctls() {
  [[ -f $STATE/sysctl.saved ]] || return 0
  local kv
  while IFS= read -r kv; do
    [[ $(sysctl -n "${kv%%=*}" 2>/dev/null) == "${kv#*=}" ]] || sysctl -qw "$kv" >/dev/null 2>&1 || true
  done <"$STATE/sysctl.saved"
}

cmd_down() {
  need_root down
  if [[ ! -d $STATE ]]; then
    log "nothing to do: $STATE does not exist"
    return 0
  fi
  step "down: $STATE"
  KBIN=$(cd "$FLOW_CACHE/kubernetes-$KUBE_VERSION/bin" 2>/dev/null && pwd) || KBIN=

  # Stop the controllers first so that nothing recreates pods, then let the kubelet tear the pods
  # down the normal way (network teardown included) while it still runs.
  stop_daemon kube-controller-manager
  stop_daemon kube-scheduler
  if [[ -n $KBIN ]] && daemon_pid kube-apiserver >/dev/null && daemon_pid kubelet >/dev/null; then
    # A one-second grace period: programs running as PID 1 (sleep, Kaniko) ignore SIGTERM.
    kubectl_ delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < 100; i++)); do
      running_tasks || break
      sleep 0.2
    done
    step "pods stopped by the kubelet"
  fi
  stop_daemon kube-proxy
  stop_daemon kubelet
  daemon_pid containerd >/dev/null && remove_containers
  local d
  for d in containerd kube-apiserver etcd registry; do stop_daemon "$d"; done
  kill_leftovers
  step "processes stopped"

  unmount_all
  unregister_emulation
  cleanup_iptables
  ip link del "$POD_BRIDGE" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  cleanup_cgroups
  restore_sysctls
  cleanup_host_dirs
  step "mounts, network, firewall, cgroups and sysctls cleaned up"

  [[ -z $(our_mounts) ]] || die "mounts remain below $STATE or $RUN_DIR; not deleting them"
  rm -rf --one-file-system "$RUN_DIR" "$STATE"
  step "removed $STATE and $RUN_DIR"
}

cmd_status() {
  if [[ ! -d $STATE ]]; then
    echo "not running ($STATE does not exist)"
    return 1
  fi
  local d pid running=0
  for d in "${DAEMONS[@]}"; do
    if pid=$(daemon_pid "$d"); then
      printf '%-24s running (pid %s)\n' "$d" "$pid"
      running=$((running + 1))
    else
      printf '%-24s stopped\n' "$d"
    fi
  done
  KBIN=$FLOW_CACHE/kubernetes-$KUBE_VERSION/bin
  if daemon_pid kube-apiserver >/dev/null && [[ -x $KBIN/kubectl ]]; then
    if node_ready; then echo "node $NODE_NAME: Ready"; else echo "node $NODE_NAME: not Ready"; fi
  fi
  echo "kubeconfig:   $KUBECONFIG_ADMIN"
  echo "registry:     $REGISTRY (CA $STATE/pki/registry-ca.crt, user $REGISTRY_USER)"
  echo "env file:     $STATE/env.sh"
  if [[ -f $STATE/binfmt ]]; then echo "binfmt_misc:  registered here: $(grep -vx mounted "$STATE/binfmt" | tr '\n' ' ')"; fi
  echo "logs:         $STATE/logs"
  ((running == ${#DAEMONS[@]}))
}

# load ARCHIVE...: imports docker-archive tarballs (as `mkimage binary|rootfs` write them) into the
# node's containerd, where pods find them with imagePullPolicy IfNotPresent (use a tag other than
# "latest", whose default policy is Always).
cmd_load() {
  need_root load
  (($#)) || die "usage: $0 load ARCHIVE.tar..."
  daemon_pid containerd >/dev/null || die "containerd of the local cluster is not running; run $0 up first"
  local f
  for f in "$@"; do
    [[ -f $f ]] || die "$f does not exist"
    ctr_ images import "$f" | sed 's/^/imported: /'
  done
}

# registry stop|start: takes the registry away and brings it back, for tests of a registry that
# fails mid-build. Its storage is kept, so a restart serves everything pushed before.
cmd_registry() {
  need_root registry
  local bin=$FLOW_CACHE/bin/registry-$DISTRIBUTION_VERSION
  case ${1:-} in
    stop) stop_daemon registry; log "registry stopped" ;;
    start)
      [[ -f $STATE/registry/config.yml && -x $bin ]] || die "the cluster was never brought up; run $0 up"
      start_daemon registry "$bin" serve "$STATE/registry/config.yml"
      wait_for registry 30 "the registry to answer" \
        bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --cacert '$STATE/pki/registry-ca.crt' https://$REGISTRY/v2/) == 401 ]]"
      log "registry answering at $REGISTRY"
      ;;
    *) die "usage: $0 registry stop|start" ;;
  esac
}

# kubelet restart: stops the kubelet and starts it again, as a node's kubelet upgrade or crash would,
# for tests of builds that run through it. Containers keep running meanwhile (containerd owns them).
cmd_kubelet() {
  need_root kubelet
  [[ ${1:-} == restart ]] || die "usage: $0 kubelet restart"
  daemon_pid kubelet >/dev/null || die "the kubelet of the local cluster is not running; run $0 up first"
  KBIN=$FLOW_CACHE/kubernetes-$KUBE_VERSION/bin
  stop_daemon kubelet
  start_kubelet
  wait_for kubelet 60 "the kubelet to be healthy" curl -fs http://127.0.0.1:10248/healthz
  wait_for kubelet 60 "node $NODE_NAME to be Ready" node_ready
  log "kubelet restarted; node $NODE_NAME Ready"
}

case ${1:-} in
  up) cmd_up ;;
  registry)
    shift
    cmd_registry "$@"
    ;;
  kubelet)
    shift
    cmd_kubelet "$@"
    ;;
  down) cmd_down ;;
  status) cmd_status ;;
  load)
    shift
    cmd_load "$@"
    ;;
  *) die "usage: $0 up|down|status|load ARCHIVE.tar...|registry stop|start|kubelet restart" ;;
esac
