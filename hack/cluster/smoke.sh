#!/usr/bin/env bash
# Proves that the local cluster made by `cluster.sh up` can do what the end-to-end tests need:
#
#   1. a Kaniko pod (the imported executor image, a push Secret, a ConfigMap build context) builds
#      FROM the base image in the local registry, pushes over TLS with basic auth, and reports the
#      digest in its termination message — which must equal the digest the registry serves;
#   2. an image made like the operator's (`mkimage binary`, loaded with `cluster.sh load`) runs a Go
#      client that reaches the API server through the `kubernetes` Service ClusterIP with its
#      service-account token (kube-proxy works), and trusts the registry through its CA bundle;
#   3. a pod whose image containerd pulls from the registry (so containerd trusts the registry CA and
#      the pull Secret works) cannot reach an address off this machine, and the firewall counts it;
#   4. a Kaniko pod with `hostUsers: false` runs in a user namespace: root inside, an unprivileged
#      UID on the host (read from the host's /proc while its RUN step runs), and it still unpacks the
#      base image, chowns files in a RUN step and pushes the image.
#
# Usage: hack/cluster/smoke.sh   (after hack/cluster/cluster.sh up; needs root for iptables)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

STATE=${FLOW_STATE:-$FLOW_CACHE/cluster}
[[ -f $STATE/env.sh ]] || die "no cluster: $STATE/env.sh is missing; run hack/cluster/cluster.sh up first"
# shellcheck source=/dev/null
source "$STATE/env.sh"

NS=flow-smoke
PROBE_IMAGE=localhost/flow-apiprobe:smoke
OFF_MACHINE_IP=203.0.113.7 # TEST-NET-3: never a local address
T0=$SECONDS
step() { log "[$((SECONDS - T0))s] $*"; }
fail() {
  kubectl -n "$NS" get pods -o wide >&2 || true
  kubectl -n "$NS" describe pods >&2 || true
  die "$*"
}

# wait_pod NAME SECONDS: waits for the pod to finish and prints its phase (or Timeout).
wait_pod() {
  local phase deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    phase=$(kubectl -n "$NS" get pod "$1" -o 'jsonpath={.status.phase}')
    case $phase in Succeeded | Failed)
      echo "$phase"
      return 0
      ;;
    esac
    sleep 0.5
  done
  echo Timeout
}

termination_message() {
  kubectl -n "$NS" get pod "$1" -o 'jsonpath={.status.containerStatuses[0].state.terminated.message}'
}

# registry_digest REPO TAG: the digest the registry serves. The password reaches curl on stdin,
# never on its command line.
registry_digest() {
  printf 'user = "%s:%s"\n' "$FLOW_REGISTRY_USER" "$(cat "$FLOW_REGISTRY_PASSWORD_FILE")" |
    curl -fsS -K - --cacert "$FLOW_REGISTRY_CA" -I \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "https://$FLOW_REGISTRY/v2/$1/manifests/$2" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}

drop_count() {
  iptables -w -L FLOW-FORWARD -v -x -n | awk '/pods reach nothing off this machine/ { print $1 }'
}

API_IP=$(kubectl -n default get service kubernetes -o 'jsonpath={.spec.clusterIP}')
[[ -n $API_IP ]] || die "the kubernetes Service has no ClusterIP"
drops_before=$(drop_count)

kubectl delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
kubectl create namespace "$NS" >/dev/null
until kubectl -n "$NS" get serviceaccount default >/dev/null 2>&1; do sleep 0.2; done
kubectl -n "$NS" create secret generic registry-push --type=kubernetes.io/dockerconfigjson \
  --from-file=.dockerconfigjson="$DOCKER_CONFIG/config.json" >/dev/null
kubectl -n "$NS" create configmap context \
  --from-literal=Dockerfile="$(printf 'FROM %s\nRUN echo hi > /x\n' "$FLOW_BASE_IMAGE")" >/dev/null
# The RUN step prints the user namespace's ID map, changes ownership as root, and sleeps long enough
# for the host side to look at the executor's process.
# shellcheck disable=SC2016 # the $(...) are for the RUN step's shell
kubectl -n "$NS" create configmap context-userns --from-literal=Dockerfile="$(
  printf 'FROM %s\nRUN echo "uid_map: $(cat /proc/self/uid_map)" && mkdir /data && chown 1234:5678 /data && test "$(stat -c %%u:%%g /data)" = 1234:5678 && sleep 5\n' \
    "$FLOW_BASE_IMAGE"
)" >/dev/null
step "namespace $NS with the push Secret and the build context"

# The probe image: built and packed the way the operator's image is.
(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$STATE/bin/apiprobe" ./hack/cluster/apiprobe)
"$STATE/bin/mkimage" binary --bin "$STATE/bin/apiprobe" --path /apiprobe --user 65532 --tag "$PROBE_IMAGE" \
  --ca "$FLOW_REGISTRY_CA" --ca /etc/ssl/certs/ca-certificates.crt --out "$STATE/images/apiprobe.tar" >/dev/null
bash "$HACK_DIR/cluster/cluster.sh" load "$STATE/images/apiprobe.tar" >/dev/null
step "probe image $PROBE_IMAGE built and loaded"

kubectl -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: kaniko
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  containers:
  - name: kaniko
    image: $KANIKO_IMAGE
    imagePullPolicy: IfNotPresent
    args:
    - --context=dir:///workspace
    - --dockerfile=/workspace/Dockerfile
    - --destination=$FLOW_REGISTRY/smoke:v1
    - --digest-file=/dev/termination-log
    volumeMounts:
    - {name: context, mountPath: /workspace}
    - {name: docker-config, mountPath: /kaniko/.docker, readOnly: true}
  volumes:
  - name: context
    configMap: {name: context}
  - name: docker-config
    secret:
      secretName: registry-push
      items: [{key: .dockerconfigjson, path: config.json}]
---
apiVersion: v1
kind: Pod
metadata:
  name: kaniko-userns
spec:
  hostUsers: false
  restartPolicy: Never
  automountServiceAccountToken: false
  containers:
  - name: kaniko
    image: $KANIKO_IMAGE
    imagePullPolicy: IfNotPresent
    args:
    - --context=dir:///workspace
    - --dockerfile=/workspace/Dockerfile
    - --destination=$FLOW_REGISTRY/smoke-userns:v1
    - --digest-file=/dev/termination-log
    volumeMounts:
    - {name: context, mountPath: /workspace}
    - {name: docker-config, mountPath: /kaniko/.docker, readOnly: true}
  volumes:
  - name: context
    configMap: {name: context-userns}
  - name: docker-config
    secret:
      secretName: registry-push
      items: [{key: .dockerconfigjson, path: config.json}]
---
apiVersion: v1
kind: Pod
metadata:
  name: apiprobe
spec:
  restartPolicy: Never
  containers:
  - name: apiprobe
    image: $PROBE_IMAGE
    imagePullPolicy: IfNotPresent
    args: ["$FLOW_REGISTRY"]
---
apiVersion: v1
kind: Pod
metadata:
  name: netcheck
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  imagePullSecrets: [{name: registry-push}]
  containers:
  - name: netcheck
    image: $FLOW_BASE_IMAGE
    imagePullPolicy: Always
    command: [sh, -c]
    # busybox wget -T segfaults; timeout(1) bounds the attempt instead.
    args: ["timeout 3 wget -q -O - http://$OFF_MACHINE_IP/ >/dev/null 2>&1; echo off_rc=\$? >/dev/termination-log"]
YAML
step "pods kaniko, kaniko-userns, apiprobe and netcheck created"

# The user-namespaced Kaniko: its executor process as the host's /proc sees it, while its RUN
# step sleeps.
container_pid() {
  local id
  id=$(kubectl -n "$NS" get pod "$1" -o 'jsonpath={.status.containerStatuses[0].containerID}')
  [[ -n $id ]] || return 0
  CONTAINERD_SUPPRESS_DEPRECATION_WARNINGS=1 "$STATE/bin/ctr" --address "$FLOW_CONTAINERD_SOCK" -n k8s.io tasks ls |
    awk -v id="${id#containerd://}" '$1 == id && $3 == "RUNNING" { print $2 }'
}
deadline=$((SECONDS + 120))
pid=
until [[ -n $pid ]] || ((SECONDS >= deadline)); do
  pid=$(container_pid kaniko-userns)
  [[ -n $pid ]] || sleep 0.2
done
[[ -n $pid ]] || fail "the kaniko-userns pod never ran"
host_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
read -r ns_first host_first map_len <"/proc/$pid/uid_map"
((host_uid != 0 && ns_first == 0 && host_first == host_uid && map_len < 4294967295)) ||
  fail "kaniko-userns is not in a user namespace: host UID $host_uid, uid_map \"$ns_first $host_first $map_len\""
step "kaniko-userns: executor (host pid $pid) runs as host UID $host_uid; uid_map 0 -> $host_first, $map_len IDs"

phase=$(wait_pod kaniko 180)
if [[ $phase != Succeeded ]]; then
  kubectl -n "$NS" logs kaniko >&2 || true
  fail "the Kaniko pod ended $phase, want Succeeded"
fi
pod_digest=$(termination_message kaniko)
reg_digest=$(registry_digest smoke v1)
[[ $pod_digest =~ ^sha256:[0-9a-f]{64}$ ]] || fail "the Kaniko termination message is \"$pod_digest\", want a sha256 digest"
[[ $pod_digest == "$reg_digest" ]] || fail "Kaniko reported $pod_digest but the registry serves $reg_digest"
step "kaniko: Succeeded, pushed $FLOW_REGISTRY/smoke:v1@$pod_digest (equals the registry's digest)"

phase=$(wait_pod apiprobe 60)
msg=$(termination_message apiprobe)
[[ $phase == Succeeded ]] || { kubectl -n "$NS" logs apiprobe >&2 || true; fail "the apiprobe pod ended $phase, want Succeeded: $msg"; }
[[ $msg == *"api: 200 OK v"* ]] || fail "apiprobe did not get the API version: $msg"
[[ $msg == *"registry: 401 Unauthorized"* ]] || fail "apiprobe did not reach the registry over trusted TLS: $msg"
step "pod -> kubernetes Service $API_IP:443 -> API server: $(head -n 1 <<<"$msg"); $(tail -n 1 <<<"$msg")"

phase=$(wait_pod netcheck 60)
[[ $phase == Succeeded ]] || fail "the netcheck pod (image pulled from $FLOW_REGISTRY) ended $phase, want Succeeded"
msg=$(termination_message netcheck)
off_rc=${msg#off_rc=}
off_rc=${off_rc%%[!0-9]*}
[[ -n $off_rc && $off_rc != 0 ]] || fail "a pod reached $OFF_MACHINE_IP off this machine ($msg); the egress firewall does not work"
drops_after=$(drop_count)
((drops_after > drops_before)) ||
  fail "the pod could not reach $OFF_MACHINE_IP, but the firewall DROP counter did not move ($drops_before -> $drops_after)"
step "pod -> $OFF_MACHINE_IP (off this machine): blocked, DROP counter $drops_before -> $drops_after"

phase=$(wait_pod kaniko-userns 180)
if [[ $phase != Succeeded ]]; then
  kubectl -n "$NS" logs kaniko-userns >&2 || true
  fail "the kaniko-userns pod ended $phase, want Succeeded"
fi
logged_map=$(kubectl -n "$NS" logs kaniko-userns | sed -n 's/^uid_map: *//p' | tr -s ' ')
[[ $logged_map == "0 $host_first $map_len" ]] ||
  fail "the RUN step saw uid_map \"$logged_map\", want \"0 $host_first $map_len\""
pod_digest=$(termination_message kaniko-userns)
reg_digest=$(registry_digest smoke-userns v1)
[[ $pod_digest == "$reg_digest" && -n $reg_digest ]] ||
  fail "kaniko-userns reported \"$pod_digest\" but the registry serves \"$reg_digest\""
step "kaniko-userns: Succeeded as root in its namespace (chown included), pushed $FLOW_REGISTRY/smoke-userns:v1@$pod_digest"

kubectl delete namespace "$NS" --wait=false >/dev/null
step "smoke test passed"
