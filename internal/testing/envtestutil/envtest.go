// Package envtestutil starts a real kube-apiserver and etcd (controller-runtime's envtest) with the
// ImageBuild CRD installed, for the integration tests of the controllers and the CLI.
package envtestutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start launches envtest with the CRDs of config/crd/bases. When the binaries are missing it skips the
// test loudly with the command that provides them, never silently.
func Start(m *testing.M) (*envtest.Environment, *rest.Config, bool) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "SKIPPING integration tests: KUBEBUILDER_ASSETS is not set. "+
			"Run `make test-integration` (it builds kube-apiserver and etcd once and caches them).")
		return nil, nil, false
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		os.Exit(1)
	}
	return env, cfg, true
}

// RepoRoot is the root of the source tree, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}
