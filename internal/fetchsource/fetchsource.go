// Package fetchsource is the build pod's init container: it pulls a source bundle by digest and
// unpacks it into the workspace Kaniko builds from. The manager binary runs it when its first
// argument is `fetch-source`, so that one image serves both and the two never drift apart.
package fetchsource

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"

	"github.com/fleetflow/flow-build/internal/bundle"
)

// Main runs fetch-source with its command-line arguments and returns the process exit code. A
// failure is also written to the container's termination message, which the controller turns into
// the SourceFetchFailed message.
func Main(args []string) int {
	fs := flag.NewFlagSet("fetch-source", flag.ContinueOnError)
	image := fs.String("image", "", "source bundle, by digest (repository@sha256:...)")
	dest := fs.String("dest", "/workspace", "directory to unpack the build context into")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	start := time.Now()
	// DOCKER_CONFIG points at the build's push Secret, mounted read-only; the default keychain reads it
	// exactly as Kaniko does, so one Secret serves both containers.
	err := bundle.Fetch(ctx, *image, *dest, remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithContext(ctx))
	if err != nil {
		msg := err.Error() // names the bundle already
		fmt.Fprintln(os.Stderr, msg)
		_ = os.WriteFile(corev1.TerminationMessagePathDefault, []byte(msg), 0o644)
		return 1
	}
	fmt.Printf("fetched source bundle %s into %s in %s\n", *image, *dest, time.Since(start).Round(time.Millisecond))
	return 0
}
