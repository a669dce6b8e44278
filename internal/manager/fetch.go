package manager

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

	"github.com/fleetflow/flow-build/internal/bundle"
)

// terminationLog is where Kubernetes picks up a container's last words; the controller turns them
// into the SourceFetchFailed message.
const terminationLog = "/dev/termination-log"

// FetchSource is the build pod's init container: it pulls the source bundle by digest and unpacks it
// into the workspace for Kaniko. It returns the process exit code.
func FetchSource(args []string) int {
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
		_ = os.WriteFile(terminationLog, []byte(msg), 0o644)
		return 1
	}
	fmt.Printf("fetched source bundle %s into %s in %s\n", *image, *dest, time.Since(start).Round(time.Millisecond))
	return 0
}
