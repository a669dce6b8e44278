package kanikolog

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/dockerfile"
)

const finalDigest = "sha256:5d41402abc4b2a76b9719d911017c592ae1f1b7e3f2c9d8e7a6b5c4d3e2f1a0b"

// wantBuild is what the Node multi-stage build log (testdata/node-multistage.*.log, built
// with --target=production --cache=true) must yield, in order. The records come from Kaniko
// v1.24.0's own messages, formatted by logrus v1.9.3 (the version Kaniko is built with).
var wantBuild = []Event{
	{Kind: Stage, Text: "node:20-alpine", Index: 0},
	{Kind: Step, Text: "WORKDIR /app"},
	{Kind: Step, Text: "COPY package.json package-lock.json ./"},
	{Kind: Step, Text: "RUN npm ci --omit=dev"},
	{Kind: CachePush, Text: "ghcr.io/org/myapp/cache:3f1c9a2b7e4d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"},
	{Kind: Stage, Text: "node:20-alpine", Index: 1},
	{Kind: Step, Text: "WORKDIR /app"},
	{Kind: Step, Text: "COPY --from=deps /app/node_modules ./node_modules"},
	{Kind: Step, Text: "COPY . ."},
	{Kind: Step, Text: "RUN npm run build"},
	{Kind: CachePush, Text: "ghcr.io/org/myapp/cache:9b8a7c6d5e4f30211d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3021100"},
	{Kind: Warning, Text: "Error uploading layer to cache: failed to push to destination ghcr.io/org/myapp/cache:9b8a7c6d5e4f30211d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3021100: PATCH https://ghcr.io/v2/org/myapp/cache/blobs/upload/x: DENIED: permission_denied"},
	{Kind: Stage, Text: "node:20-alpine", Index: 2},
	{Kind: Step, Text: "ENV NODE_ENV=production"},
	{Kind: Step, Text: "WORKDIR /app"},
	{Kind: Step, Text: "COPY --from=build /app/dist ./dist"},
	{Kind: Step, Text: "COPY --from=deps /app/node_modules ./node_modules"},
	{Kind: Step, Text: "USER node"},
	{Kind: Step, Text: "EXPOSE 3000"},
	{Kind: Step, Text: `CMD ["node", "dist/server.js"]`},
	{Kind: Pushing, Text: "ghcr.io/org/myapp:v1.2.0"},
	{Kind: Pushed, Text: "ghcr.io/org/myapp@" + finalDigest},
}

func readEvents(t *testing.T, file string) []Event {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only: Close cannot lose data
	var p Parser
	var got []Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if ev, ok := p.Parse(sc.Text()); ok {
			got = append(got, ev)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestParserWholeBuild(t *testing.T) {
	for _, format := range []string{"color", "text", "json"} {
		t.Run(format, func(t *testing.T) {
			got := readEvents(t, filepath.Join("testdata", "node-multistage."+format+".log"))
			if !reflect.DeepEqual(got, wantBuild) {
				t.Errorf("events differ\n got: %v\nwant: %v", got, wantBuild)
			}
		})
	}
}

// The step count of the Dockerfile that produced the log must equal the steps in the log: that
// is what makes the percentage reach 100% exactly when Kaniko starts pushing.
func TestCountStepsMatchesLog(t *testing.T) {
	df, err := os.ReadFile(filepath.Join("..", "dockerfile", "testdata", "node-multistage.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := dockerfile.CountSteps(df, "production")
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, ev := range wantBuild {
		if ev.Kind == Step {
			steps++
		}
	}
	if n != steps {
		t.Errorf("CountSteps = %d, the log has %d steps", n, steps)
	}
}

// Without memory, the image push of a cache upload is still recognised by its cache-key tag,
// but its "Pushed" line is not: that is the documented limit of ParseLine.
func TestParseLineStatelessCacheUpload(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "node-multistage.color.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read-only: Close cannot lose data
	var pushing, pushed []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ev, ok := ParseLine(sc.Text())
		switch {
		case ok && ev.Kind == Pushing:
			pushing = append(pushing, ev.Text)
		case ok && ev.Kind == Pushed:
			pushed = append(pushed, ev.Text)
		}
	}
	if want := []string{"ghcr.io/org/myapp:v1.2.0"}; !reflect.DeepEqual(pushing, want) {
		t.Errorf("Pushing events %q, want %q", pushing, want)
	}
	if len(pushed) != 2 || pushed[1] != "ghcr.io/org/myapp@"+finalDigest {
		t.Errorf("Pushed events %q, want the cache's and the image's", pushed)
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Event
		ok   bool
	}{
		{"color step", "\x1b[36mINFO\x1b[0m[0001] RUN echo hi                                  \n", Event{Kind: Step, Text: "RUN echo hi"}, true},
		{"plain step", "INFO[0001] RUN echo hi", Event{Kind: Step, Text: "RUN echo hi"}, true},
		{"crlf", "INFO[0001] COPY hello.txt /out/hello.txt \r\n", Event{Kind: Step, Text: "COPY hello.txt /out/hello.txt"}, true},
		{"long step is not padded", "INFO[0012] RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl", Event{Kind: Step, Text: "RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl"}, true},
		{"lowercase instruction", "INFO[0001] run make all", Event{Kind: Step, Text: "run make all"}, true},
		{"heredoc first line", "INFO[0001] RUN <<EOF", Event{Kind: Step, Text: "RUN <<EOF"}, true},
		{"onbuild", "INFO[0001] ONBUILD RUN make", Event{Kind: Step, Text: "ONBUILD RUN make"}, true},
		{"full timestamp", "\x1b[36mINFO\x1b[0m[2025-05-01T10:00:03Z] ARG VERSION=1", Event{Kind: Step, Text: "ARG VERSION=1"}, true},
		{"tab after keyword", "INFO[0001] ENV\tA=b", Event{Kind: Step, Text: "ENV\tA=b"}, true},

		{"Cmd record is not CMD", "INFO[0001] Cmd: /bin/sh", Event{}, false},
		{"Cmd workdir", "INFO[0001] Cmd: workdir", Event{}, false},
		{"Args record is not ARG", "INFO[0001] Args: [-c echo hi]", Event{}, false},
		{"Running", "INFO[0001] Running: [/bin/sh -c echo hi]", Event{}, false},
		{"keyword alone", "INFO[0001] RUN", Event{}, false},
		{"keyword and blanks", "INFO[0001] RUN    ", Event{}, false},
		{"FROM is not a step", "INFO[0000] FROM alpine", Event{}, false},
		{"cache lookup mentions a step", "INFO[0000] No cached layer found for cmd RUN npm ci", Event{}, false},
		{"cache hit mentions a step", "INFO[0000] Using caching version of cmd: RUN npm ci", Event{}, false},
		{"unpacking mentions a step", "INFO[0000] Unpacking rootfs as cmd COPY a b requires it.", Event{}, false},
		{"retrieving", "INFO[0000] Retrieving image manifest 10.0.0.1:5443/base:latest", Event{}, false},
		{"resolved base name", "INFO[0000] Resolved base name golang:1.22 to builder", Event{}, false},
		{"snapshot", "INFO[0002] Taking snapshot of full filesystem...", Event{}, false},
		{"RUN output looking like a step", "RUN rm -rf /", Event{}, false},
		{"RUN output looking like a record without timestamp", "WARN deprecated package", Event{}, false},
		{"debug record", "DEBU[0000] RUN echo hi", Event{}, false},
		{"empty", "", Event{}, false},

		{"stage", "INFO[0000] Building stage 'golang:1.22' [idx: '0', base-idx: '-1']", Event{Kind: Stage, Text: "golang:1.22", Index: 0}, true},
		{"stage from stage", "INFO[0003] Building stage 'builder' [idx: '2', base-idx: '0'] ", Event{Kind: Stage, Text: "builder", Index: 2}, true},
		{"pushing", "INFO[0003] Pushing image to 10.0.0.1:5443/app:v1", Event{Kind: Pushing, Text: "10.0.0.1:5443/app:v1"}, true},
		{"pushed", "INFO[0004] Pushed 10.0.0.1:5443/app@" + finalDigest, Event{Kind: Pushed, Text: "10.0.0.1:5443/app@" + finalDigest}, true},
		{"pushed without digest", "INFO[0004] Pushed something", Event{}, false},
		{"cache layer", "INFO[0004] Pushing layer 10.0.0.1:5443/app/cache:" + strings.Repeat("ab", 32) + " to cache now", Event{Kind: CachePush, Text: "10.0.0.1:5443/app/cache:" + strings.Repeat("ab", 32)}, true},
		{"cache image push", "INFO[0004] Pushing image to 10.0.0.1:5443/app/cache:" + strings.Repeat("ab", 32), Event{}, false},
		{"tag of 64 non-hex", "INFO[0004] Pushing image to r.io/app:" + strings.Repeat("v", 64), Event{Kind: Pushing, Text: "r.io/app:" + strings.Repeat("v", 64)}, true},
		{"no push", "INFO[0004] Skipping push to container registry due to --no-push flag", Event{}, false},

		{"warning", "\x1b[33mWARN\x1b[0m[0000] MAINTAINER is deprecated, skipping", Event{Kind: Warning, Text: "MAINTAINER is deprecated, skipping"}, true},
		{"error record is a warning", "\x1b[31mERRO\x1b[0m[0001] Error while retrieving image from cache: x", Event{Kind: Warning, Text: "Error while retrieving image from cache: x"}, true},
		{"fatal record", "\x1b[31mFATA\x1b[0m[0000] Invalid platform \"x\": bad", Event{Kind: Error, Text: `Invalid platform "x": bad`}, true},
		{"build error", "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3", Event{Kind: Error, Text: "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3"}, true},
		{"push error", "error pushing image: failed to push to destination 127.0.0.1:5999/app:x: Get \"https://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused", Event{Kind: Error, Text: "error pushing image: failed to push to destination 127.0.0.1:5999/app:x: Get \"https://127.0.0.1:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused"}, true},
		{"permission error", "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"r/app:bad\": UNAUTHORIZED", Event{Kind: Error, Text: "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"r/app:bad\": UNAUTHORIZED"}, true},
		{"not in a container", "kaniko should only be run inside of a container, run with the --force flag if you are sure you want to continue", Event{Kind: Error, Text: "kaniko should only be run inside of a container, run with the --force flag if you are sure you want to continue"}, true},
		{"cobra flag error", "Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile", Event{Kind: Error, Text: "Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile"}, true},
		{"a tool's own error output", "Error: Cannot find module 'express'", Event{}, false},
		{"a compiler's error output", "error: expected ';' before '}' token", Event{}, false},

		{"logfmt step", `time="2025-05-01T10:00:01Z" level=info msg="RUN echo \"hi\""`, Event{Kind: Step, Text: `RUN echo "hi"`}, true},
		{"logfmt unquoted value", `time="2025-05-01T10:00:01Z" level=warning msg=slow`, Event{Kind: Warning, Text: "slow"}, true},
		{"logfmt broken quote", `time="2025-05-01T10:00:01Z" level=info msg="RUN x`, Event{}, false},
		{"json step", `{"level":"info","msg":"COPY . .","time":"2025-05-01T10:00:01Z"}`, Event{Kind: Step, Text: "COPY . ."}, true},
		{"json of a RUN's own", `{"name":"x"}`, Event{}, false},
		{"json fatal", `{"level":"fatal","msg":"Timed out snapshotting FS in 90m"}`, Event{Kind: Error, Text: "Timed out snapshotting FS in 90m"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseLine(tt.line)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseLine(%q) = %v, %v; want %v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// A failing build: the steps up to the failing RUN, then Kaniko's exit line.
func TestParserFailedBuild(t *testing.T) {
	log := "\x1b[36mINFO\x1b[0m[0000] Retrieving image manifest 127.0.0.1:5443/base:latest \n" +
		"\x1b[36mINFO\x1b[0m[0000] Building stage '127.0.0.1:5443/base:latest' [idx: '0', base-idx: '-1'] \n" +
		"\x1b[36mINFO\x1b[0m[0000] RUN exit 3                                   \n" +
		"\x1b[36mINFO\x1b[0m[0000] Cmd: /bin/sh                                 \n" +
		"\x1b[36mINFO\x1b[0m[0000] Args: [-c exit 3]                            \n" +
		"\x1b[36mINFO\x1b[0m[0000] Running: [/bin/sh -c exit 3]                 \n" +
		"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3\n"
	var p Parser
	var got []Event
	for line := range strings.Lines(log) {
		if ev, ok := p.Parse(line); ok {
			got = append(got, ev)
		}
	}
	want := []Event{
		{Kind: Stage, Text: "127.0.0.1:5443/base:latest"},
		{Kind: Step, Text: "RUN exit 3"},
		{Kind: Error, Text: "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got: %v\nwant: %v", got, want)
	}
}

func TestRepository(t *testing.T) {
	tests := map[string]string{
		"ghcr.io/org/app:v1":             "ghcr.io/org/app",
		"localhost:5000/app":             "localhost:5000/app",
		"localhost:5000/app:v1":          "localhost:5000/app",
		"r.io/app@sha256:abc":            "r.io/app",
		"10.0.0.1:5443/app/cache:abcdef": "10.0.0.1:5443/app/cache",
	}
	for in, want := range tests {
		if got := repository(in); got != want {
			t.Errorf("repository(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k := Step; k <= Error; k++ {
		if s := k.String(); strings.HasPrefix(s, "Kind(") {
			t.Errorf("Kind %d has no name", int(k))
		}
	}
	if got := Kind(99).String(); got != "Kind(99)" {
		t.Errorf("Kind(99).String() = %q", got)
	}
}

// The cache may live in the image's own repository, and an upload may fail without a "Pushed"
// line: neither may hide the image's push.
func TestParserCacheInImageRepository(t *testing.T) {
	key1, key2 := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	log := []string{
		"INFO[0000] Building stage 'alpine' [idx: '0', base-idx: '-1']",
		"INFO[0000] RUN make",
		"INFO[0001] Pushing layer r.io/app:" + key1 + " to cache now",
		"INFO[0001] Pushing image to r.io/app:" + key1,
		"INFO[0001] Pushed r.io/app@sha256:" + strings.Repeat("1", 64),
		"INFO[0001] RUN make install",
		"INFO[0001] Pushing layer r.io/app:" + key2 + " to cache now",
		"INFO[0001] Pushing image to r.io/app:" + key2,
		"WARN[0002] Error uploading layer to cache: failed to push to destination r.io/app:" + key2 + ": DENIED",
		"INFO[0002] Pushing image to r.io/app:v1",
		"INFO[0003] Pushed r.io/app@sha256:" + strings.Repeat("2", 64),
	}
	var p Parser
	var got []Event
	for _, l := range log {
		if ev, ok := p.Parse(l); ok && ev.Kind != Warning {
			got = append(got, ev)
		}
	}
	want := []Event{
		{Kind: Stage, Text: "alpine"},
		{Kind: Step, Text: "RUN make"},
		{Kind: CachePush, Text: "r.io/app:" + key1},
		{Kind: Step, Text: "RUN make install"},
		{Kind: CachePush, Text: "r.io/app:" + key2},
		{Kind: Pushing, Text: "r.io/app:v1"},
		{Kind: Pushed, Text: "r.io/app@sha256:" + strings.Repeat("2", 64)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n got: %v\nwant: %v", got, want)
	}
}
