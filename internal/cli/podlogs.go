package cli

import (
	"context"
	"errors"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/kanikolog"
	"github.com/fleetflow/flow-build/internal/redact"
)

// logSource opens the Kaniko log of a build pod. The cluster's source asks the API server
// (pods/log, served by the pod's kubelet); tests substitute recorded logs, since an API server
// without nodes serves none.
type logSource interface {
	// open returns the log of the pod's kaniko container from its start; with follow it stays
	// open until the container ends. tailLines > 0 starts that many lines before the end. The
	// errors are the API server's: Forbidden without permission on pods/log, NotFound for a
	// pod that is gone, BadRequest while the container waits to start.
	open(ctx context.Context, namespace, pod string, follow bool, tailLines int64) (io.ReadCloser, error)
}

// apiLogs reads build logs from the API server.
type apiLogs struct{ cs kubernetes.Interface }

func (a apiLogs) open(ctx context.Context, namespace, pod string, follow bool, tailLines int64) (io.ReadCloser, error) {
	opts := &corev1.PodLogOptions{Container: buildpod.KanikoContainer, Follow: follow}
	if tailLines > 0 {
		opts.TailLines = &tailLines
	}
	return a.cs.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
}

// Why a build log could not be read, when the reason changes what flow says.
var (
	// errLogsForbidden: the user may not read pod logs (get on pods/log) in the namespace.
	errLogsForbidden = errors.New("reading build pod logs is forbidden")
	// errPodGone: the build pod no longer exists (deleted with its build's TTL, or by hand).
	errPodGone = errors.New("the build pod is gone")
	// errNotStarted: following stopped before the kaniko container ever started.
	errNotStarted = errors.New("the build container never started")
)

// logRetry is how soon flow asks again for the log of a container that has not started yet: the
// kaniko container waits for the source to be fetched.
const logRetry = 300 * time.Millisecond

// readLog reads the log of a build pod through out (which keeps the failing step's last lines)
// and calls fn, if set, with every line. With follow it waits for the container to start, as
// long as waiting() says so, and reads it to its end. tailLines > 0 reads only the end of the
// log. The lines fn gets are redacted: nothing a build printed reaches the terminal with a
// credential in it (redact out's Tail before showing it too).
func (c *cluster) readLog(ctx context.Context, pod string, follow bool, tailLines int64, waiting func() bool, out *kanikolog.Output, fn func(kanikolog.Line)) error {
	lastTry := false
	for {
		stream, err := c.logs.open(ctx, c.namespace, pod, follow, tailLines)
		switch {
		case err == nil:
			defer func() { _ = stream.Close() }() // read-only: Close cannot lose data
			err := kanikolog.Lines(stream, func(raw string) {
				line := out.Read(raw)
				if fn != nil {
					line.Text = redact.Text(line.Text)
					fn(line)
				}
			})
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case apierrors.IsForbidden(err):
			return errLogsForbidden
		case apierrors.IsNotFound(err):
			return errPodGone
		case !follow:
			return err
		case waiting != nil && !waiting():
			if lastTry {
				return errNotStarted
			}
			// The container may have run and ended since the last try: one more read.
			lastTry = true
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(logRetry):
		}
	}
}

// failedOutput is the end of a failed build's output, from one pod.
type failedOutput struct {
	platform string // for builds with spec.platforms
	lines    []string
}

// failureOutput finds the last n lines of a failed build's output: from the failing pod's log
// when it can be read, else from the lines the operator kept in status.failureLog (at most
// buildv1.FailureLogMaxLines). forbidden reports that reading pod logs is not allowed.
func (c *cluster) failureOutput(ctx context.Context, ib *buildv1.ImageBuild, n int) (out []failedOutput, forbidden bool) {
	if n <= 0 {
		return nil, false
	}
	var pod, platform string
	var kept []string
	switch fl := ib.Status.FailureLog; {
	case fl != nil:
		pod, platform, kept = fl.Pod, fl.Platform, fl.Tail
	case len(ib.Spec.Platforms) == 0:
		// An operator that keeps no failureLog (an older one, or it could not read the log):
		// the build's only pod may still be there.
		pod = ib.Status.PodName
	}
	if pod == "" {
		return nil, false
	}
	// Kaniko logs a few records of its own per step: this many lines from the end hold the n
	// last lines of output of any ordinary step.
	tail := kanikolog.NewOutput(n)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err := c.readLog(ctx, pod, false, int64(n)*4+200, nil, tail, nil)
	lines := redactAll(tail.Tail())
	if err != nil || len(lines) == 0 {
		lines = kept
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) == 0 {
		return nil, errors.Is(err, errLogsForbidden)
	}
	return []failedOutput{{platform: platform, lines: lines}}, errors.Is(err, errLogsForbidden)
}

func redactAll(lines []string) []string {
	for i, l := range lines {
		lines[i] = redact.Text(l)
	}
	return lines
}
