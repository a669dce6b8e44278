package buildpod

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"

	"github.com/fleetflow/flow-build/api/v1alpha1"
)

// runFailed is the end of the log of a build whose RUN step failed, as the pod log has it (color
// format), with a credential the step printed.
const runFailed = buildPrelude +
	"\x1b[36mINFO\x1b[0m[0001] COPY hello.txt /hello.txt                    \n" +
	"\x1b[36mINFO\x1b[0m[0001] Taking snapshot of files...                  \n" +
	"\x1b[36mINFO\x1b[0m[0001] RUN echo marker-123 && false                 \n" +
	"\x1b[36mINFO\x1b[0m[0001] Cmd: /bin/sh                                 \n" +
	"\x1b[36mINFO\x1b[0m[0001] Args: [-c echo marker-123 && false]          \n" +
	"\x1b[36mINFO\x1b[0m[0001] Running: [/bin/sh -c echo marker-123 && false] \n" +
	"marker-123\n" +
	"cloning https://bob:hunter2@example.com/x.git\tGIT_TOKEN=ghp_abc123\n" +
	"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1\n"

var runFailedTail = []string{
	"RUN echo marker-123 && false",
	"marker-123",
	"cloning https://example.com/x.git GIT_TOKEN=REDACTED",
	"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1",
}

func TestFailureLog(t *testing.T) {
	pod := basePod(t, nil)
	failedPod := finished(pod, 1, "", runFailed)
	tests := []struct {
		name string
		pod  *corev1.Pod
		log  string
		want []string
	}{
		{"from the log", failedPod, runFailed, runFailedTail},
		// Without the log, the kubelet's copy of its last 2 KiB.
		{"from the termination message", failedPod, "", runFailedTail},
		// A termination message holding the digest is no log.
		{"digest only", finished(pod, 1, "", goodDigest), "", nil},
		{"Kaniko never ran", pod, runFailed, nil},
		{"no output", finished(pod, 1, "", ""), "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FailureLog(tc.pod, tc.log)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("FailureLog = %+v, want none", got)
				}
				return
			}
			if got == nil || got.Pod != pod.Name || !reflect.DeepEqual(got.Tail, tc.want) {
				t.Fatalf("FailureLog = %+v\nwant pod %s, tail %q", got, pod.Name, tc.want)
			}
		})
	}
}

// The API server refuses a status beyond the CRD's bounds, and etcd objects have a size limit:
// whatever a build prints, the tail fits.
func TestFailureLogBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("\x1b[36mINFO\x1b[0m[0001] RUN ./build.sh\n")
	for i := range 200 {
		b.WriteString(strings.Repeat("日本語 output ", 100) + string(rune('a'+i%26)) + "\x07\x1b]0;title\x07\n")
	}
	b.WriteString("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2\n")
	got := FailureLog(finished(basePod(t, nil), 2, "", "x"), b.String())
	if got == nil {
		t.Fatal("no failure log")
	}
	total := 0
	for _, l := range got.Tail {
		total += len(l)
		if len(l) > v1alpha1.FailureLogMaxLineBytes || !utf8.ValidString(l) || strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 }) {
			t.Errorf("line of %d bytes, valid UTF-8 %v: %q", len(l), utf8.ValidString(l), l)
		}
	}
	if len(got.Tail) > v1alpha1.FailureLogMaxLines || total > v1alpha1.FailureLogMaxBytes {
		t.Errorf("%d lines, %d bytes; the bounds are %d and %d", len(got.Tail), total, v1alpha1.FailureLogMaxLines, v1alpha1.FailureLogMaxBytes)
	}
	if last := got.Tail[len(got.Tail)-1]; !strings.Contains(last, "exit status 2") {
		t.Errorf("the last line %q is not Kaniko's error: the end of the output must survive the bounds", last)
	}
}

// A recorded build whose RUN printed credentials and 30 lines: the status gets the last 20,
// redacted.
func TestFailureLogOfRecordedBuild(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "kanikolog", "testdata", "failed-run-many-lines.color.log"))
	if err != nil {
		t.Fatal(err)
	}
	got := FailureLog(finished(basePod(t, nil), 2, "", ""), string(raw))
	if got == nil || len(got.Tail) != v1alpha1.FailureLogMaxLines {
		t.Fatalf("FailureLog = %+v, want %d lines", got, v1alpha1.FailureLogMaxLines)
	}
	all := strings.Join(got.Tail, "\n")
	if strings.Contains(all, "s3cr3t-value") || strings.Contains(all, "hunter2") {
		t.Errorf("a credential reached the status:\n%s", all)
	}
	if got.Tail[0] != "compiling unit 14" || got.Tail[17] != "token=REDACTED https://example.com/x" || !strings.HasSuffix(got.Tail[19], "exit status 2") {
		t.Errorf("tail:\n%s", all)
	}
}
