package kanikolog

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// wantOutput is the build output of the Node multi-stage build log: stages, steps, what the steps
// printed (blank lines included), the warning and the push; none of Kaniko's informational records.
var wantOutput = []string{
	"FROM node:20-alpine",
	"WORKDIR /app",
	"COPY package.json package-lock.json ./",
	"RUN npm ci --omit=dev",
	"",
	"added 412 packages, and audited 413 packages in 9s",
	"",
	"found 0 vulnerabilities",
	"RUN this line is npm output, not a step",
	"FROM node:20-alpine",
	"WORKDIR /app",
	"COPY --from=deps /app/node_modules ./node_modules",
	"COPY . .",
	"RUN npm run build",
	"",
	"> myapp@1.2.0 build",
	"> tsc -p tsconfig.json",
	"",
	"WARNING: Error uploading layer to cache: failed to push to destination ghcr.io/org/myapp/cache:9b8a7c6d5e4f30211d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3021100: PATCH https://ghcr.io/v2/org/myapp/cache/blobs/upload/x: DENIED: permission_denied",
	"FROM node:20-alpine",
	"ENV NODE_ENV=production",
	"WORKDIR /app",
	"COPY --from=build /app/dist ./dist",
	"COPY --from=deps /app/node_modules ./node_modules",
	"USER node",
	"EXPOSE 3000",
	`CMD ["node", "dist/server.js"]`,
	"Pushing image to ghcr.io/org/myapp:v1.2.0",
	"Pushed ghcr.io/org/myapp@" + finalDigest,
}

func readOutput(t *testing.T, file string, tail int) (shown []string, o *Output) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only: Close cannot lose data
	o = NewOutput(tail)
	if err := Lines(f, func(line string) {
		if l := o.Read(line); l.Shown {
			shown = append(shown, l.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return shown, o
}

// Whatever --log-format the pod used, the build output reads the same.
func TestOutputWholeBuild(t *testing.T) {
	for _, format := range []string{"color", "text", "json"} {
		t.Run(format, func(t *testing.T) {
			shown, o := readOutput(t, filepath.Join("testdata", "node-multistage."+format+".log"), DefaultTailLines)
			if !reflect.DeepEqual(shown, wantOutput) {
				t.Errorf("output differs\n got: %q\nwant: %q", shown, wantOutput)
			}
			// A build that succeeded ends with its push.
			if want := wantOutput[len(wantOutput)-2:]; !reflect.DeepEqual(o.Tail(), want) {
				t.Errorf("tail %q, want %q", o.Tail(), want)
			}
		})
	}
}

// failingLog is the recorded log cut where a step ended, with the error line Kaniko prints when
// that step fails.
func failingLog(t *testing.T, file, lastLine, errLine string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), lastLine) {
			return b.String() + errLine + "\n"
		}
	}
	t.Fatalf("%s has no line %q", file, lastLine)
	return ""
}

func TestTailOfFailingStep(t *testing.T) {
	const exit2 = "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2"
	for _, format := range []string{"color", "text", "json"} {
		file := filepath.Join("testdata", "node-multistage."+format+".log")
		log := failingLog(t, file, "tsc -p tsconfig.json", exit2)
		tests := []struct {
			n    int
			want []string
		}{
			// The step first, then what it printed (blank lines left out), then Kaniko's verdict;
			// nothing of the steps before it.
			{20, []string{"RUN npm run build", "> myapp@1.2.0 build", "> tsc -p tsconfig.json", exit2}},
			{2, []string{"> tsc -p tsconfig.json", exit2}},
			{0, nil},
		}
		for _, tc := range tests {
			if got := Tail(log, tc.n); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: Tail(%d) = %q, want %q", format, tc.n, got, tc.want)
			}
		}
	}
	// A failure in the first stage's RUN: its npm output, not the next stage's.
	log := failingLog(t, filepath.Join("testdata", "node-multistage.color.log"), "RUN this line is npm output", exit2)
	want := []string{"RUN npm ci --omit=dev", "added 412 packages, and audited 413 packages in 9s", "found 0 vulnerabilities", "RUN this line is npm output, not a step", exit2}
	if got := Tail(log, 20); !reflect.DeepEqual(got, want) {
		t.Errorf("Tail = %q, want %q", got, want)
	}
}

// Errors met before the build are followed by cobra's usage text, which is no output of anything.
func TestTailStopsAtUsageText(t *testing.T) {
	log := "\x1b[36mINFO\x1b[0m[0000] Retrieving image manifest alpine:3.20\n" +
		"Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile\n" +
		"Usage:\n  executor [flags]\n  executor [command]\n\nFlags:\n      --build-arg multi-arg type   This flag allows you to pass in ARG values at build time.\n"
	want := []string{"Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile"}
	if got := Tail(log, 20); !reflect.DeepEqual(got, want) {
		t.Errorf("Tail = %q, want %q", got, want)
	}
	// A RUN that prints "Usage:" itself keeps it.
	log = "\x1b[36mINFO\x1b[0m[0001] RUN ./tool\nUsage:\n  tool [flags]\nerror building image: error building stage: failed to execute command: waiting for process to exit: exit status 64\n"
	if got := Tail(log, 20); len(got) != 4 || got[1] != "Usage:" {
		t.Errorf("Tail = %q, want the tool's own usage text kept", got)
	}
}

func TestLineText(t *testing.T) {
	tests := []struct {
		raw, text string
		shown     bool
	}{
		{"\x1b[36mINFO\x1b[0m[0003] RUN npm ci                                   \n", "RUN npm ci", true},
		{"\x1b[36mINFO\x1b[0m[0003] Taking snapshot of full filesystem...        ", "Taking snapshot of full filesystem...", false},
		{"\x1b[36mINFO\x1b[0m[0002] Using caching version of cmd: RUN npm ci    ", "Using caching version of cmd: RUN npm ci", true},
		{"\x1b[33mWARN\x1b[0m[0000] Failed to retrieve image library/alpine:3 from remote mirror", "WARNING: Failed to retrieve image library/alpine:3 from remote mirror", true},
		{`{"level":"error","msg":"Error while retrieving image from cache: x","time":"2026-01-02T03:04:05Z"}`, "ERROR: Error while retrieving image from cache: x", true},
		{`time="2026-01-02T03:04:05Z" level=info msg="Building stage 'golang:1.22' [idx: '0', base-idx: '-1']"`, "FROM golang:1.22", true},
		// What a RUN prints keeps its indentation, loses its colours, and shows only the last
		// state of a progress bar redrawn with carriage returns.
		{"    at Object.<anonymous> (/app/index.js:1:7)\r\n", "    at Object.<anonymous> (/app/index.js:1:7)", true},
		{"\x1b[31mnpm ERR!\x1b[0m code 1", "npm ERR! code 1", true},
		{"  10% [=>    ]\r  50% [===> ]\r 100% [=====]\r", " 100% [=====]", true},
		{"", "", true},
	}
	for _, tc := range tests {
		l := NewOutput(0).Read(tc.raw)
		if l.Text != tc.text || l.Shown != tc.shown {
			t.Errorf("Read(%q) = %q shown %v, want %q shown %v", tc.raw, l.Text, l.Shown, tc.text, tc.shown)
		}
	}
}

func TestLines(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes+100000)
	in := "first\r\n" + long + "\nafter the long line\nno newline at the end"
	var got []string
	if err := Lines(strings.NewReader(in), func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0] != "first" || len(got[1]) != MaxLineBytes || got[2] != "after the long line" || got[3] != "no newline at the end" {
		t.Errorf("Lines read %d lines: %q …", len(got), got[0])
	}
}

// Real logs of failed builds, recorded from Kaniko v1.24.0 pods on the local node (color format,
// as `kubectl logs` returns them): the tail is the failing step and what it printed, or, for a
// failure outside any step, Kaniko's warnings and its verdict.
func TestTailOfRecordedFailures(t *testing.T) {
	compiling := make([]string, 0, 20)
	for i := 14; i <= 30; i++ {
		compiling = append(compiling, fmt.Sprintf("compiling unit %d", i))
	}
	refused := `Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused; Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`
	tests := []struct {
		file string
		n    int
		want []string
	}{
		{"failed-run-fails.color.log", DefaultTailLines, []string{
			"RUN echo marker-123 && false",
			"marker-123",
			"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1",
		}},
		// 30 lines of output: the last 20, the step itself no longer fits. What the step wrote
		// to stderr comes in the order Kaniko received it.
		{"failed-run-many-lines.color.log", DefaultTailLines, append(compiling,
			"token=s3cr3t-value https://bob:hunter2@example.com/x",
			"error: undefined reference to main",
			"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2",
		)},
		{"failed-run-fails.color.log", 1, []string{
			"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1",
		}},
		// Kaniko looks for a COPY's files before it announces the step: the stage is the context.
		{"failed-copy-missing.color.log", DefaultTailLines, []string{
			"FROM 10.200.0.1:5443/library/busybox:1.35",
			"error building image: error building stage: failed to optimize instructions: failed to get files used from context: failed to get fileinfo for /workspace/missing.txt: lstat /workspace/missing.txt: no such file or directory",
		}},
		{"failed-base-missing.color.log", DefaultTailLines, []string{
			"WARNING: Retrying operation after 1s due to " + refused,
			"WARNING: Retrying operation after 2s due to " + refused,
			"ERROR: Error while retrieving image from cache: 127.0.0.1:1/nope/nothing:1 unable to complete operation after 2 attempts, last error: " + refused,
			"WARNING: Retrying operation after 1s due to " + refused,
			"WARNING: Retrying operation after 2s due to " + refused,
			"error building image: unable to complete operation after 2 attempts, last error: " + refused,
		}},
	}
	for _, tc := range tests {
		_, o := readOutput(t, filepath.Join("testdata", tc.file), tc.n)
		if got := o.Tail(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: tail of %d\n got: %q\nwant: %q", tc.file, tc.n, got, tc.want)
		}
	}
}
