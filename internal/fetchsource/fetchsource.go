// Package fetchsource is the build pod's init container: it pulls a source bundle by digest and
// unpacks it into the workspace Kaniko builds from. In the pods of a multi-platform build it then
// checks that the Dockerfile's base images are published for the pod's platform. The manager binary runs it when its first
// argument is `fetch-source`, so that one image serves both and the two never drift apart.
//
// Before anything else it reports the pod's UID mapping (package userns) in its termination
// message, so that the controller knows whether the build runs in a user namespace.
package fetchsource

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"

	"github.com/fleetflow/flow-build/internal/baseimage"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/dockerfile"
	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/userns"
)

// Main runs fetch-source with its command-line arguments and returns the process exit code. The
// container's termination message starts with the pod's UID mapping; a failure follows it, which
// the controller turns into the build's failure message.
func Main(args []string) int {
	fs := flag.NewFlagSet("fetch-source", flag.ContinueOnError)
	image := fs.String("image", "", "source bundle, by digest (repository@sha256:...)")
	dest := fs.String("dest", "/workspace", "directory to unpack the build context into")
	scratch := fs.String("scratch", os.TempDir(), "directory the compressed bundle is downloaded into and verified before anything is unpacked")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long (the build pod passes its build's spec.timeout)")
	uploadWait := fs.Duration("upload-wait", DefaultUploadWait, "how long to wait for a source bundle that is not in the registry yet (flow build creates the build while it uploads)")
	platformFlag := fs.String("check-platform", "", "after unpacking, check that the Dockerfile's base images are published for this platform (os/arch[/variant])")
	dockerfilePath := fs.String("dockerfile", "Dockerfile", "the Dockerfile, relative to the build context (with --check-platform)")
	target := fs.String("target", "", "the Dockerfile stage built (with --check-platform); empty: the last one")
	buildArgs := map[string]string{}
	fs.Func("build-arg", "NAME=VALUE build arg the FROM lines may use (with --check-platform; repeatable)", func(v string) error {
		name, value, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return fmt.Errorf("want NAME=VALUE, got %q", v)
		}
		buildArgs[name] = value
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var plat platform.Platform
	if *platformFlag != "" {
		var err error
		if plat, err = platform.Parse(*platformFlag); err != nil {
			fmt.Fprintln(os.Stderr, "fetch-source: --check-platform:", err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	// Written first, so that the report survives a fetch that fails or is killed.
	report, description := userns.Probe()
	fmt.Println(description)
	if report != "" {
		_ = os.WriteFile(corev1.TerminationMessagePathDefault, []byte(report+"\n"), 0o644)
	}
	fail := func(msg string, code int) int { return failWith(report, msg, code) }

	start := time.Now()
	// DOCKER_CONFIG points at the build's push Secret, mounted read-only; the default keychain reads it
	// exactly as Kaniko does, so one Secret serves both containers.
	err := whenUploaded(ctx, os.Stdout, *image, *uploadWait, func() error {
		return bundle.Fetch(ctx, *image, *dest, *scratch, remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithContext(ctx))
	})
	if err != nil {
		return fail(err.Error(), 1) // names the bundle already
	}
	fmt.Printf("fetched source bundle %s into %s in %s\n", *image, *dest, time.Since(start).Round(time.Millisecond))
	if *platformFlag == "" {
		return 0
	}
	err = checkPlatform(ctx, os.Stdout, filepath.Join(*dest, filepath.FromSlash(*dockerfilePath)), *target, buildArgs, plat,
		remote.WithAuthFromKeychain(authn.DefaultKeychain))
	var mismatch *baseimage.MismatchError
	switch {
	case errors.As(err, &mismatch):
		return fail(mismatch.Error(), buildpod.ExitPlatformMismatch)
	case err != nil:
		return fail(fmt.Sprintf("checking the base images for %s: %v", plat, err), 1)
	}
	return 0
}

// DefaultUploadWait is how long the fetcher waits for a source bundle that is not in the registry
// yet. flow build creates the ImageBuild while it is still uploading a small bundle (up to
// cli.EarlyCreateMaxBytes), so that the build pod starts at the same time, and deletes the build
// when the upload fails; this wait only runs out when flow was killed mid-upload, or the bundle
// was deleted from the registry.
const DefaultUploadWait = 5 * time.Minute

// hiddenRepositoryWait is how long the fetcher takes a refusal (401, 403) of the bundle's manifest
// for a repository that does not exist yet: Docker Hub and GHCR answer so for a repository nobody
// has pushed to, until the first blob of the upload that is creating it arrives. Wrong credentials
// are refused the same way, so the wait is short: it only delays that failure.
const hiddenRepositoryWait = 10 * time.Second

// whenUploaded runs fetch, and again while it fails because the bundle's manifest is not in the
// registry, for at most wait (hiddenRepositoryWait while the registry refuses access): first after
// 50 ms, then ever less often, up to once a second. The manifest is what an upload writes last, so
// once it is there the whole bundle is.
func whenUploaded(ctx context.Context, out io.Writer, ref string, wait time.Duration, fetch func() error) error {
	start := time.Now()
	delay := 50 * time.Millisecond
	for waited := false; ; waited = true {
		err := fetch()
		missing, refused := notUploaded(err)
		switch {
		case err == nil || !missing && !refused:
			return err
		case refused && time.Since(start)+delay > min(wait, hiddenRepositoryWait):
			return err // the registry's refusal, as it is: the credentials' fault after all
		case missing && time.Since(start)+delay > wait:
			return fmt.Errorf("source bundle %s is not in the registry, %s after the build pod started: flow build uploads it while the build starts, "+
				"and deletes the build if the upload fails, so the run was killed during the upload, or the bundle was deleted from the registry. "+
				"Run flow build again (%w)", ref, wait, err)
		}
		if !waited {
			_, _ = fmt.Fprintf(out, "source bundle %s is not in the registry yet; waiting up to %s for flow build to finish uploading it\n", ref, wait)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// notUploaded tells whether err is the registry's answer to a request for the bundle's manifest
// while an upload has not written it yet: missing (404: no such manifest, or no such repository),
// or refused (401, 403: what some registries say of a repository that does not exist yet).
func notUploaded(err error) (missing, refused bool) {
	var te *transport.Error
	if !errors.As(err, &te) || te.Request == nil || !strings.Contains(te.Request.URL.Path, "/manifests/") {
		return false, false
	}
	return te.StatusCode == http.StatusNotFound, te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden
}

// checkPlatform checks that the base images of the Dockerfile at path, for target, are published
// for plat. Only a *baseimage.MismatchError, or a context that ended, is an error: what it cannot
// read (the Dockerfile, an image) is left to Kaniko, which reports it in the build's own terms.
func checkPlatform(ctx context.Context, out io.Writer, path, target string, buildArgs map[string]string, plat platform.Platform, opts ...remote.Option) error {
	start := time.Now()
	images, err := baseImages(path, target, buildArgs)
	if err != nil {
		_, _ = fmt.Fprintf(out, "base images not checked for %s: %v\n", plat, err)
		return nil
	}
	unchecked, err := baseimage.Check(ctx, images, plat, opts...)
	if err != nil {
		return err
	}
	for _, u := range unchecked {
		_, _ = fmt.Fprintf(out, "base image not checked for %s: %s\n", plat, u)
	}
	_, _ = fmt.Fprintf(out, "base images %v checked for %s in %s\n", images, plat, time.Since(start).Round(time.Millisecond))
	return nil
}

// failWith reports msg on stderr and, after the user namespace report, as the container's
// termination message, which the controller turns into the build's failure message, and returns
// code.
func failWith(report, msg string, code int) int {
	fmt.Fprintln(os.Stderr, msg)
	if report != "" {
		msg = report + "\n" + msg
	}
	_ = os.WriteFile(corev1.TerminationMessagePathDefault, []byte(msg), 0o644)
	return code
}

// baseImages reads the images the Dockerfile at path starts from, for target.
func baseImages(path, target string, buildArgs map[string]string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := dockerfile.Parse(data)
	if err != nil {
		return nil, err
	}
	return d.BaseImages(target, buildArgs)
}
