#!/usr/bin/env bash
# A real Kubernetes node beside the local control plane (hack/cluster, `make cluster-up`):
# containerd + runc, a CNI bridge, and the kubelet and kube-proxy built from the control
# plane's release (hack/build-kube.sh). Its node is tainted
# kubetune.io/real-node=true:NoSchedule, so only pods that tolerate it (and select it) run
# there; the process node agent's nodes stay the default for everything else.
#
#   hack/real-node.sh check    can this machine run it? Says why not (exit 1): root,
#                              cgroups, overlayfs, a routable address, the tools (containerd,
#                              runc and the CNI plugins are installed with apt-get if
#                              missing), no other real node running on this machine
#   hack/real-node.sh prepare  check, then build the kubelet and kube-proxy if not cached;
#                              exit 0 with the reason when the machine cannot (CI's step)
#   hack/real-node.sh up       start it (images from `make images` are imported)
#   hack/real-node.sh down     stop it; remove its mounts, bridge, iptables rules, and put
#                              the sysctls it changed back (`python -m cluster down` runs
#                              it too)
#
# Pods reach the API server through the `kubernetes` Service: the control plane
# advertises this machine's primary address (hack/cluster/components.py), and kube-proxy
# writes the Service's iptables rules. One real node per machine (the bridge, its subnet
# and the iptables rules are machine-wide): /run/kubetune/real-node.owner names the
# cluster folder of the one running.
#
# State, logs and configuration: $KUBETUNE_CLUSTER_DIR/real-node (default .cluster/real-node).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${KUBETUNE_CLUSTER_DIR:-$root/.cluster}
dir=$state/real-node
cache=${KUBETUNE_CACHE_DIR:-$HOME/.cache/kubetune}
version=$(sed -n 's/^KUBE_VERSION *?= *//p' "$root/Makefile")
node_bin=$cache/kube-node-$version
kubectl=$cache/kube-$version/kubectl
node=kubetune-real-0
bridge=kt-real0
cni_network=kubetune-real
pod_cidr=10.244.77.0/24
gpus=${KUBETUNE_GPUS_PER_NODE:-8}
pause_image=localhost/kubetune/pause:3.10
sock=$dir/containerd/containerd.sock
owner_file=/run/kubetune/real-node.owner
# What the kubelet changes unless protectKernelDefaults, and what the CNI bridge needs.
sysctls=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
  net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.route_localnet)

log() { echo "real-node: $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() {  # start NAME COMMAND...: background, log in $dir/NAME.log, pid in $dir/NAME.pid
  local name=$1; shift
  nice -n 19 "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local deadline=$((SECONDS + $1)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then log "timed out waiting for $what"; return 1; fi
    sleep 0.5
  done
}

issue_cert() {  # issue_cert STEM SUBJECT: a client certificate signed by the cluster CA
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" \
    -keyout "$dir/$1.key" -out "$dir/$1.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$1.csr" -CA "$state/pki/ca.crt" -CAkey "$state/pki/ca.key" \
    -CAcreateserial -days 30 -out "$dir/$1.crt" 2>/dev/null
}

cluster_state() {  # cluster_state KEY: a value of the control plane's state.json
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$state/state.json" "$1"
}

kubeconfig() {  # kubeconfig STEM: a kubeconfig for the certificate STEM
  local server; server=$(cluster_state server)
  cat >"$dir/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "$server", certificate-authority: "$state/pki/ca.crt"}}]
users: [{name: $1, user: {client-certificate: "$dir/$1.crt", client-key: "$dir/$1.key"}}]
contexts: [{name: local, context: {cluster: local, user: $1}}]
current-context: local
EOF
}

install_tools() {
  command -v containerd >/dev/null && command -v runc >/dev/null && [[ -x /usr/lib/cni/bridge ]] && return 0
  command -v apt-get >/dev/null || { echo "containerd, runc or the CNI plugins are missing, and there is no apt-get to install them"; return 1; }
  log "installing containerd, runc and the CNI plugins with apt-get"
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      containerd runc containernetworking-plugins; } >"${TMPDIR:-/tmp}/kubetune-real-node-apt.log" 2>&1; then
    echo "apt-get could not install containerd, runc and containernetworking-plugins (log: ${TMPDIR:-/tmp}/kubetune-real-node-apt.log)"
    return 1
  fi
}

owner_alive() {  # owner_alive DIR: a real node of the cluster folder DIR is running
  local pid
  pid=$(cat "$1/containerd.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# Why this machine cannot run the real node (one line on stdout, exit 1), or nothing.
why_not() {
  ((EUID == 0)) || { echo "needs root (containerd, mounts, iptables, sysctls); running as uid $EUID"; return 1; }
  grep -q '^cgroup' /proc/mounts || grep -q ' cgroup2\? ' /proc/mounts || { echo "no cgroup filesystem mounted"; return 1; }
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || { echo "the kernel has no overlayfs (containerd's snapshotter)"; return 1; }
  [[ -n $(ip -4 -o addr show scope global 2>/dev/null) ]] || { echo "no routable IPv4 address: pods could not reach the API server"; return 1; }
  local cmd
  for cmd in go iptables iptables-save ip openssl curl podman; do
    command -v "$cmd" >/dev/null || { echo "$cmd is not installed"; return 1; }
  done
  if [[ -s $owner_file ]]; then
    local other; other=$(cat "$owner_file")
    if [[ $other != "$dir" ]] && owner_alive "$other"; then
      echo "another real node runs on this machine (cluster folder ${other%/real-node}); one at a time"; return 1
    fi
  fi
  install_tools
}

check() {
  local reason
  if reason=$(why_not); then echo "real-node: this machine can run the real node"; return 0; fi
  echo "$reason"
  return 1
}

prepare() {  # check, then the kubelet and kube-proxy (cached); never fails for an unfit machine
  local reason
  if ! reason=$(why_not); then log "skipped: $reason"; return 0; fi
  [[ -x $node_bin/kubelet && -x $node_bin/kube-proxy ]] || \
    "$root/hack/build-kube.sh" "$version" "$node_bin" kubelet kube-proxy
}

claim_machine() {  # the owner file (one real node per machine), or exit 1 naming the owner
  local reason
  if ! reason=$(why_not); then log "cannot start: $reason"; exit 1; fi
  mkdir -p "$(dirname "$owner_file")"
  # noclobber: of two starts at once, one creates the file; the other finds it and is
  # refused unless the node it names has stopped (a killed run's leftover).
  if ! (set -o noclobber; echo "$dir" >"$owner_file") 2>/dev/null; then
    local other; other=$(cat "$owner_file")
    if [[ $other != "$dir" ]] && owner_alive "$other"; then
      log "cannot start: another real node runs on this machine (${other%/real-node})"; exit 1
    fi
    echo "$dir" >"$owner_file"
  fi
}

release_machine() {
  [[ "$(cat "$owner_file" 2>/dev/null)" == "$dir" ]] && rm -f "$owner_file"
  rmdir "$(dirname "$owner_file")" 2>/dev/null || true
}

import_images() {  # the pause image (made here) and the images of `make images`
  local ctx; ctx=$(mktemp -d)
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/pause" "$root/hack/node/pause.go"
  "$root/hack/podman" build --pull=never --quiet -t "$pause_image" -f "$root/hack/node/pause.Dockerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
  local image
  for image in "$pause_image" $("$root/hack/images.sh" --tags); do
    "$root/hack/podman" image exists "$image" || { log "skipping $image: not built (make images)"; continue; }
    "$root/hack/podman" save --quiet --format oci-archive -o "$dir/image.tar" "$image"
    ctr --address "$sock" -n k8s.io images import --base-name "${image%:*}" "$dir/image.tar" >/dev/null
    rm -f "$dir/image.tar"
  done
}

write_configs() {
  mkdir -p "$dir/cni" "$dir/containerd"
  cat >"$dir/cni/10-kubetune.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "$cni_network",
 "plugins": [
  {"type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$dir/cni/ipam"}},
  {"type": "loopback"}]}
EOF
  cat >"$dir/containerd.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # This sandbox refuses negative oom_score_adj values.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
EOF
  cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Cgroups are v1 (hybrid) here; Kubernetes >= 1.35 refuses them unless told otherwise.
failCgroupV1: false
# No systemd on this machine.
cgroupDriver: cgroupfs
# The sandbox refuses negative oom_score_adj values (the kubelet's default is -999).
oomScoreAdj: 0
containerRuntimeEndpoint: unix://$sock
address: $node_ip
port: $(free_port)
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(free_port)
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$state/pki/ca.crt"}
authorization: {mode: Webhook}
registerWithTaints: [{key: kubetune.io/real-node, value: "true", effect: NoSchedule}]
podCIDR: $pod_cidr
failSwapOn: false
resolvConf: /etc/resolv.conf
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 30
EOF
}

up() {
  [[ -s $state/state.json ]] || { log "no local cluster in $state: run make cluster-up first"; exit 1; }
  # The kubelet's node IP is the address the API server advertises (and dials for logs).
  node_ip=$(cluster_state advertise_address)
  if [[ -z $node_ip || $node_ip == 127.* ]]; then
    log "the API server advertises ${node_ip:-nothing} (no routable address when it started): pods could not reach it; restart the cluster"
    exit 1
  fi
  if [[ -d $dir ]]; then log "a previous real node was not stopped: stopping it first"; down; fi
  [[ -x $node_bin/kubelet && -x $node_bin/kube-proxy ]] || \
    "$root/hack/build-kube.sh" "$version" "$node_bin" kubelet kube-proxy
  claim_machine
  mkdir -p "$dir"
  for s in "${sysctls[@]}"; do v=$(sysctl -n "$s" 2>/dev/null) && echo "$s=$v"; done >"$dir/sysctls.saved"
  for cmd in iptables ip6tables; do "$cmd-save" >"$dir/$cmd.saved"; done
  write_configs
  issue_cert kubelet "/O=system:nodes/CN=system:node:$node" && kubeconfig kubelet
  issue_cert kube-proxy "/CN=system:kube-proxy" && kubeconfig kube-proxy
  start containerd containerd --config "$dir/containerd.toml"
  wait_for 30 containerd ctr --address "$sock" version
  import_images
  start kubelet "$node_bin/kubelet" --config "$dir/kubelet.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
    --hostname-override "$node" --node-ip "$node_ip" --root-dir "$dir/kubelet" \
    --cert-dir "$dir/kubelet-pki" --node-labels kubetune.io/node-kind=real
  local proxy_health; proxy_health=$(free_port)
  start kube-proxy "$node_bin/kube-proxy" --kubeconfig "$dir/kube-proxy.kubeconfig" \
    --hostname-override "$node" --proxy-mode iptables --cluster-cidr "$pod_cidr" \
    --metrics-bind-address "127.0.0.1:$(free_port)" --healthz-bind-address "127.0.0.1:$proxy_health" \
    --iptables-localhost-nodeports=false --conntrack-max-per-core=0 \
    --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0
  wait_for 120 "node $node Ready" "$kubectl" --kubeconfig "$state/kubeconfig" wait --for=condition=Ready \
    "node/$node" --timeout=2s
  wait_for 60 "kube-proxy's first sync" curl -sf "http://127.0.0.1:$proxy_health/healthz"
  # GPUs as an extended resource, the documented way: a PATCH of the node's status
  # capacity (the kubelet then copies it to allocatable). Nothing backs them here.
  "$kubectl" --kubeconfig "$state/kubeconfig" patch node "$node" --subresource=status --type=json \
    -p "[{\"op\": \"add\", \"path\": \"/status/capacity/nvidia.com~1gpu\", \"value\": \"$gpus\"}]" >/dev/null
  log "node $node is Ready with $gpus nvidia.com/gpu (logs in $dir)"
}

chains() { grep -o '^:[A-Z][A-Z0-9_-]*' | cut -c2- | sort; }

# The CNI-* chains of our bridge network: the jump rules the bridge plugin writes carry
# the network's name in a comment (other CNI users, such as podman, have their own).
our_cni_chains() {  # our_cni_chains CMD TABLE
  "$1-save" -t "$2" | grep '^-A' | grep -F "name: \\\"$cni_network\\\"" \
    | grep -oE -- ' -j CNI-[A-Za-z0-9_-]+' | cut -c5- | sort -u
}

# Every KUBE-* chain that was not there at `up` (the kubelet's canaries, kube-proxy's
# leftovers) and our bridge network's CNI-* chains (masquerade chains of pods whose CNI
# DEL never ran), with the rules that jump to them.
remove_new_chains() {
  local cmd table new pattern
  for cmd in iptables ip6tables; do
    [[ -e $dir/$cmd.saved ]] || continue
    for table in filter nat mangle; do
      new=$( { comm -13 <(sed -n "/^\*$table\$/,/^COMMIT/p" "$dir/$cmd.saved" | chains) \
                       <("$cmd-save" -t "$table" | chains) | grep -E '^KUBE-' || true
               our_cni_chains "$cmd" "$table" || true; } | sort -u)
      [[ -n $new ]] || continue
      pattern=" -j ($(tr '\n' '|' <<<"$new" | sed 's/|$//'))( |$)"
      { "$cmd-save" -t "$table" | grep '^-A' | grep -E -- "$pattern" || true; } | while IFS= read -r rule; do
        eval "$cmd -t $table -D ${rule#-A }" 2>/dev/null || true
      done
      for chain in $new; do "$cmd" -t "$table" -F "$chain" 2>/dev/null || true; done
      for chain in $new; do "$cmd" -t "$table" -X "$chain" 2>/dev/null || true; done
    done
  done
}

down() {
  [[ -d $dir ]] || return 0
  local name pid chains
  # Pods first, while the kubelet runs: it tears their networks down through CNI.
  "$kubectl" --kubeconfig "$state/kubeconfig" delete pods --all-namespaces \
    --field-selector "spec.nodeName=$node" --grace-period=5 --timeout=60s >/dev/null 2>&1 || true
  for name in kube-proxy kubelet; do
    pid=$(cat "$dir/$name.pid" 2>/dev/null) && kill "$pid" 2>/dev/null && wait_for 30 "$name to stop" bash -c "! kill -0 $pid"
  done
  if [[ -S $sock ]]; then  # containers the kubelet left behind
    for id in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$id" 2>/dev/null || true
    done
  fi
  pid=$(cat "$dir/containerd.pid" 2>/dev/null) && kill "$pid" 2>/dev/null && wait_for 30 "containerd to stop" bash -c "! kill -0 $pid"
  [[ ! -x $node_bin/kube-proxy ]] || "$node_bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # Mounts under the node's folders (pod volumes, sandboxes' shm, overlay snapshots).
  grep -o " $dir[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  ip link delete "$bridge" 2>/dev/null || true
  remove_new_chains
  if [[ -s $dir/sysctls.saved ]]; then sysctl -q -p "$dir/sysctls.saved"; fi
  "$kubectl" --kubeconfig "$state/kubeconfig" delete node "$node" --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$dir"
  release_machine
  # Empty folders containerd's shims and the CNI library make at fixed places.
  rmdir /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd/s /run/containerd \
    /var/lib/cni/results /var/lib/cni/networks /var/lib/cni 2>/dev/null || true
  log "stopped"
}

case ${1:-} in
  check) check ;;
  prepare) prepare ;;
  up) up ;;
  down) down ;;
  *) echo "usage: $0 check|prepare|up|down" >&2; exit 2 ;;
esac
