package buildpod

import (
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"

	"github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/kanikolog"
	"github.com/fleetflow/flow-build/internal/redact"
)

// KanikoStarted reports whether the Kaniko container of a build pod ever ran, so that it has a
// log to read.
func KanikoStarted(pod *corev1.Pod) bool {
	if pod == nil {
		return false
	}
	s := containerStatus(pod.Status.ContainerStatuses, KanikoContainer)
	if s == nil {
		s = containerStatus(pod.Status.InitContainerStatuses, KanikoContainer)
	}
	return s != nil && (s.State.Running != nil || s.State.Terminated != nil || s.LastTerminationState.Terminated != nil)
}

// FailureLog is the status.failureLog of a failed build pod: the last lines of its build output
// (kanikolog.Output.Tail), redacted and within the bounds the API gives them. kanikoLog is the
// end of the kaniko container's log (a few hundred lines are plenty); when it could not be read
// it is empty, and the container's termination message stands in, which the kubelet fills with
// the last 2 KiB of the log when Kaniko wrote no digest. Nil when Kaniko never ran or printed
// nothing.
func FailureLog(pod *corev1.Pod, kanikoLog string) *v1alpha1.FailureLog {
	if !KanikoStarted(pod) {
		return nil
	}
	text := kanikoLog
	if strings.TrimSpace(text) == "" {
		s := containerStatus(pod.Status.ContainerStatuses, KanikoContainer)
		if s == nil {
			s = containerStatus(pod.Status.InitContainerStatuses, KanikoContainer)
		}
		if t := s.State.Terminated; t != nil && !ValidDigest(strings.TrimSpace(t.Message)) {
			text = t.Message
		}
	}
	tail := BoundTail(kanikolog.Tail(redact.Text(text), v1alpha1.FailureLogMaxLines))
	if len(tail) == 0 {
		return nil
	}
	return &v1alpha1.FailureLog{Pod: pod.Name, Tail: tail}
}

// BoundTail fits lines of build output into status.failureLog.tail: printable (tabs become
// spaces, other control characters are dropped), each line at most FailureLogMaxLineBytes, all
// of them at most FailureLogMaxBytes (the oldest give way) and FailureLogMaxLines. The lines
// must already be redacted.
func BoundTail(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, clip(printableLine(l), v1alpha1.FailureLogMaxLineBytes))
	}
	if len(out) > v1alpha1.FailureLogMaxLines {
		out = out[len(out)-v1alpha1.FailureLogMaxLines:]
	}
	total := 0
	for _, l := range out {
		total += len(l)
	}
	for len(out) > 0 && total > v1alpha1.FailureLogMaxBytes {
		total -= len(out[0])
		out = out[1:]
	}
	return out
}

// printableLine keeps a line of output readable in `kubectl describe`: a tab would break its
// columns, and control characters could move a terminal's cursor.
func printableLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
}
