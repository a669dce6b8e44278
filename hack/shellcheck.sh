#!/usr/bin/env bash
# hack/shellcheck.sh: shellcheck of the project's own scripts (hack/ and .ci/run), with shellcheck
# installed from Debian when missing. Sourced files are followed (.shellcheckrc).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

command -v shellcheck >/dev/null || need_packages shellcheck
mapfile -t scripts < <(git ls-files 'hack/*.sh' .ci/run)
shellcheck --version | sed -n 2p >&2
shellcheck "${scripts[@]}"
