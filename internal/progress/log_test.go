package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/kanikolog"
)

// The build's own output, streamed in plain mode and shown under the ✗ line, from a recorded
// Kaniko log: every line led by the service's name, the block lines and bars as before.
func TestPlainLogAndLastLines(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "kanikolog", "testdata", "node-multistage.color.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The recorded log up to the second stage's RUN, then Kaniko's verdict on it.
	cut := strings.Index(string(raw), "tsc -p tsconfig.json")
	log := string(raw)[:cut] + "tsc -p tsconfig.json\nerror building image: error building stage: failed to execute command: waiting for process to exit: exit status 2\n"

	var buf bytes.Buffer
	p := plain(&buf)
	task := p.Add(worker)
	out := kanikolog.NewOutput(3)
	steps := 0
	for l := range strings.Lines(log) {
		line := out.Read(l)
		if line.HasEvent && line.Event.Kind == kanikolog.Step {
			steps++
			task.Building(steps-1, 8, line.Event.Text)
		}
		if line.Shown {
			task.Log(line.Text)
		}
	}
	task.LastLines(out.Tail())
	task.Failed("BuildFailed: Dockerfile step \"RUN npm run build\" failed with exit status 2\nsee: kubectl describe imagebuild -n ns shop-worker")
	task.Log("late line after the summary was printed")
	p.Wait()
	task.Log("a line after Wait goes nowhere")
	diff(t, buf.String(), `Building worker...
  → Dockerfile: ./services/worker/Dockerfile
  → Context: .
[worker] FROM node:20-alpine
[worker] WORKDIR /app
[worker] COPY package.json package-lock.json ./
  [#########...........................] 25% RUN npm ci --omit=dev
[worker] RUN npm ci --omit=dev
[worker]
[worker] added 412 packages, and audited 413 packages in 9s
[worker]
[worker] found 0 vulnerabilities
[worker] RUN this line is npm output, not a step
[worker] FROM node:20-alpine
[worker] WORKDIR /app
  [##################..................] 50% COPY --from=deps /app/node_modules ./node_modules
[worker] COPY --from=deps /app/node_modules ./node_modules
[worker] COPY . .
  [###########################.........] 75% RUN npm run build
[worker] RUN npm run build
[worker]
[worker] > myapp@1.2.0 build
[worker] > tsc -p tsconfig.json
[worker] error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2
  failed: BuildFailed: Dockerfile step "RUN npm run build" failed with exit status 2
[worker] late line after the summary was printed

✗ worker: BuildFailed: Dockerfile step "RUN npm run build" failed with exit status 2
  see: kubectl describe imagebuild -n ns shop-worker
  [worker] > myapp@1.2.0 build
  [worker] > tsc -p tsconfig.json
  [worker] error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2
`)
}

// With several platforms each line names its platform; a build of one platform is the service's.
func TestLogLinesOfPlatforms(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	two := api
	two.Name = "web"
	two.Platforms = []string{"linux/amd64", "linux/arm64"}
	one := worker
	one.Platforms = []string{"linux/arm64"}
	w, k := p.Add(two), p.Add(one)
	w.Platform("linux/arm64").Log("RUN make")
	k.Platform("linux/arm64").Log("RUN make")
	w.Platform("linux/arm64").LastLines([]string{"make: *** [all] Error 2"})
	w.Failed("BuildFailed: linux/arm64 failed")
	k.Succeeded(nil, workerDigest)
	p.Wait()
	for _, want := range []string{
		"[web linux/arm64] RUN make\n",
		"[worker] RUN make\n",
		"✗ web: BuildFailed: linux/arm64 failed\n  [web linux/arm64] make: *** [all] Error 2\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}

// Output lines come from programs in the build: they must not move the cursor or split lines.
func TestLogLineIsOneLine(t *testing.T) {
	got := LogLine("api", "", "  \x1b[2Jcleared\rand\nsplit\t")
	if got != "[api]    [2Jcleared and split" {
		t.Errorf("LogLine = %q", got)
	}
}

// Live mode shows bars; the output stream is plain mode's, but the last lines show in both.
func TestLiveIgnoresLogButShowsLastLines(t *testing.T) {
	var buf bytes.Buffer
	p := New(Options{Out: &buf, Live: true, Width: 80, LookupEnv: noEnv})
	task := p.Add(api)
	task.Log("streamed-line-marker")
	task.LastLines([]string{"marker-123"})
	task.Failed("BuildFailed: RUN failed")
	p.Wait()
	if strings.Contains(buf.String(), "streamed-line-marker") {
		t.Error("live mode printed a streamed line between its bars")
	}
	if !strings.Contains(buf.String(), "✗ api: BuildFailed: RUN failed\n  [api] marker-123\n") {
		t.Errorf("live mode lacks the last lines under the ✗ line:\n%q", buf.String())
	}
}
