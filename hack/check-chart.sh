#!/usr/bin/env bash
# Lints the Helm chart and renders both install modes, checking what each one grants:
#   - default (all namespaces): the manager's ClusterRole and ClusterRoleBinding;
#   - watchNamespaces: a Role and RoleBinding in each watched namespace, --watch-namespace for each,
#     and no cluster-wide grant to the manager at all (no ClusterRoleBinding, no ClusterRole but the
#     users' aggregated ones, which bind nothing by themselves).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
helm=$(hack/tool.sh helm)
chart=charts/flow-build
namespaced=(--set 'watchNamespaces={team-a,team-b}')

"$helm" lint --strict "$chart" >/dev/null
"$helm" lint --strict "$chart" "${namespaced[@]}" >/dev/null

# objects: one "Kind name namespace" line per rendered object.
objects() {
  "$helm" template flow-build "$chart" --namespace flow-build-system "$@" | awk '
    function flush() { if (kind != "") print kind, name, (ns == "" ? "-" : ns); kind = name = ns = ""; meta = 0 }
    /^---/ { flush(); next }
    /^kind:/ { kind = $2; next }
    /^metadata:/ { meta = 1; next }
    /^[^ #]/ { meta = 0 }
    meta && /^  name:/ { name = $2 }
    meta && /^  namespace:/ { ns = $2 }
    END { flush() }'
}
fail() { die "chart: $*"; }

default=$(objects)
grep -qx 'ClusterRole flow-build-manager -' <<<"$default" || fail "the default install has no ClusterRole flow-build-manager"
grep -qx 'ClusterRoleBinding flow-build-manager -' <<<"$default" || fail "the default install has no ClusterRoleBinding flow-build-manager"
if grep '^Role ' <<<"$default" | grep -qv ' flow-build-leader-election '; then
  fail "the default install renders namespaced Roles for the manager"
fi

scoped=$(objects "${namespaced[@]}")
for ns in team-a team-b; do
  grep -qx "Role flow-build-manager $ns" <<<"$scoped" || fail "watchNamespaces: no Role in $ns"
  grep -qx "RoleBinding flow-build-manager $ns" <<<"$scoped" || fail "watchNamespaces: no RoleBinding in $ns"
done
if grep -q '^ClusterRoleBinding ' <<<"$scoped"; then
  fail "watchNamespaces: a ClusterRoleBinding is rendered: $(grep '^ClusterRoleBinding ' <<<"$scoped")"
fi
if grep '^ClusterRole ' <<<"$scoped" | grep -qv -e ' flow-build-imagebuild-editor ' -e ' flow-build-imagebuild-viewer '; then
  fail "watchNamespaces: a ClusterRole for the manager is rendered"
fi
args=$("$helm" template flow-build "$chart" "${namespaced[@]}" | grep -c -e '--watch-namespace=team-a' -e '--watch-namespace=team-b')
[[ $args == 2 ]] || fail "watchNamespaces: the manager is not started with --watch-namespace for each namespace"
"$helm" template flow-build "$chart" "${namespaced[@]}" | grep -q -e '--read-nodes=false' ||
  fail "watchNamespaces: the manager would read nodes, which a namespace-scoped install may not"
if "$helm" template flow-build "$chart" | grep -q -e '--read-nodes=false'; then
  fail "the default install does not read nodes, so it cannot place the platforms of multi-platform builds"
fi
log "chart: default and namespace-scoped installs render what they should"
