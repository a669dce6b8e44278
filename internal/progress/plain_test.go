package progress

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	apiDigest    = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	workerDigest = "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
)

var (
	api = Service{
		Name: "api", Dockerfile: "./services/api/Dockerfile", Context: ".", Target: "production",
		Destinations: []string{"ghcr.io/org/myapp:v1.2.0"},
	}
	worker = Service{
		Name: "worker", Dockerfile: "./services/worker/Dockerfile", Context: ".",
		Destinations: []string{"ghcr.io/org/myapp-worker:v1.2.0"},
	}
)

// noEnv is an environment without NO_COLOR, whatever the test process has.
func noEnv(string) (string, bool) { return "", false }

func plain(buf *bytes.Buffer) *Printer {
	return New(Options{Out: buf, LookupEnv: noEnv})
}

func diff(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("output differs\n--- got ---\n%s--- want ---\n%s", got, want)
	}
}

// The product's single-service output, line for line, plus the digest on the closing line.
func TestPlainSingleServiceIsTheSpecSample(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	task := p.Add(api)
	task.Building(0, 0, "")
	task.Pushing(0, 0)
	task.Succeeded([]string{"ghcr.io/org/myapp:v1.2.0"}, apiDigest)
	p.Wait()
	diff(t, buf.String(), `Building api...
  → Dockerfile: ./services/api/Dockerfile
  → Context: .
  → Target: production
  [####################################] 100%

Pushing api...
  → ghcr.io/org/myapp:v1.2.0
  [####################################] 100%

✓ api: ghcr.io/org/myapp:v1.2.0 (`+apiDigest+`)
`)
}

// A build pushed under several tags lists every destination under Pushing and every name on its
// closing line, with the one digest they share.
func TestPlainSeveralTags(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	svc := api
	svc.Destinations = []string{"ghcr.io/org/myapp:v1.2.0", "ghcr.io/org/myapp:latest"}
	task := p.Add(svc)
	task.Pushing(0, 2)
	task.Pushing(2, 2)
	task.Succeeded(nil, apiDigest)
	p.Wait()
	diff(t, buf.String(), `Building api...
  → Dockerfile: ./services/api/Dockerfile
  → Context: .
  → Target: production
  [####################################] 100%

Pushing api...
  → ghcr.io/org/myapp:v1.2.0
  → ghcr.io/org/myapp:latest
  [####################################] 100%

✓ api: ghcr.io/org/myapp:v1.2.0, ghcr.io/org/myapp:latest (`+apiDigest+`)
`)
}

// With a known number of steps, a line appears only when a quarter is crossed, and each shows
// the step running then.
func TestPlainSingleServiceWithSteps(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	task := p.Add(Service{Name: "web", Dockerfile: "./Dockerfile", Context: ".", Destinations: []string{"r.io/web:v1"}})
	steps := []string{"WORKDIR /app", "COPY package.json ./", "RUN npm ci", "COPY . .", "RUN npm run build", "USER node", "CMD [\"node\", \"server.js\"]"}
	task.Pending("waiting for a free build slot (2 of 2 in use)")
	task.Pending("waiting for a free build slot (2 of 2 in use)") // repeated: printed once
	task.Building(0, 7, "")
	for i, s := range steps {
		task.Building(i, 7, s)
	}
	task.Building(7, 7, "")
	task.Building(7, 7, "") // already at 100%: nothing
	task.Pushing(0, 1)
	task.Pushing(1, 1)
	task.Succeeded(nil, "") // no image: the destination; no digest: none shown
	p.Wait()
	diff(t, buf.String(), `Building web...
  → Dockerfile: ./Dockerfile
  → Context: .
  waiting: waiting for a free build slot (2 of 2 in use)
  [##########..........................] 28% RUN npm ci
  [####################................] 57% RUN npm run build
  [##############################......] 85% CMD ["node", "server.js"]
  [####################################] 100%

Pushing web...
  → r.io/web:v1
  [####################################] 100%

✓ web: r.io/web:v1
`)
}

// Two services run one after the other: the multi-service structure (Building blocks,
// then Pushing blocks, then the ✓ lines), with each bar led by its service's name.
func TestPlainTwoServicesSequential(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	a, w := p.Add(api), p.Add(worker)
	a.Building(0, 0, "")
	a.Building(0, 0, "RUN npm ci") // unknown total: no line
	w.Building(0, 0, "")
	a.Pushing(0, 0)
	w.Pushing(0, 0)
	w.Succeeded([]string{"ghcr.io/org/myapp-worker:v1.2.0"}, workerDigest) // finishes first …
	a.Succeeded([]string{"ghcr.io/org/myapp:v1.2.0"}, apiDigest)
	p.Wait()
	// … but the closing lines keep the order of the services.
	diff(t, buf.String(), `Building api...
  → Dockerfile: ./services/api/Dockerfile
  → Context: .
  → Target: production
Building worker...
  → Dockerfile: ./services/worker/Dockerfile
  → Context: .
  api    [####################################] 100%

Pushing api...
  → ghcr.io/org/myapp:v1.2.0
  worker [####################################] 100%
Pushing worker...
  → ghcr.io/org/myapp-worker:v1.2.0
  worker [####################################] 100%
  api    [####################################] 100%

✓ api: ghcr.io/org/myapp:v1.2.0 (`+apiDigest+`)
✓ worker: ghcr.io/org/myapp-worker:v1.2.0 (`+workerDigest+`)
`)
}

// Services reported from their own goroutines, in random interleavings: every line must be
// attributable to one service, and the closing lines come in service order.
func TestPlainParallelLinesAreAttributable(t *testing.T) {
	services := []Service{api, worker,
		{Name: "batch", Dockerfile: "./services/batch/Dockerfile", Context: "./services/batch", Destinations: []string{"ghcr.io/org/myapp-batch:v1.2.0"}},
	}
	for round := range 20 {
		var buf bytes.Buffer
		p := plain(&buf)
		tasks := make([]*Task, len(services))
		for i, s := range services {
			tasks[i] = p.Add(s)
		}
		var wg sync.WaitGroup
		for i, task := range tasks {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(round), uint64(i)))
				pause := func() { time.Sleep(time.Duration(r.IntN(200)) * time.Microsecond) }
				task.Pending("waiting for a build slot")
				pause()
				total := 3 + i
				for d := range total + 1 {
					task.Building(d, total, fmt.Sprintf("RUN step %d of %s", d+1, services[i].Name))
					pause()
				}
				task.Pushing(0, 1)
				pause()
				if i == 1 {
					task.Failed("Error: pushing the image failed\n\nHow to fix:\n  • check the network")
					return
				}
				task.Pushing(1, 1)
				task.Succeeded(nil, fmt.Sprintf("sha256:%064d", i))
			})
		}
		wg.Wait()
		p.Wait()
		out := buf.String()
		checkAttributable(t, out, services)
		if t.Failed() {
			t.Fatalf("round %d output:\n%s", round, out)
		}
	}
}

// checkAttributable reads plain output and fails unless every line can be traced to a service.
func checkAttributable(t *testing.T, out string, services []Service) {
	t.Helper()
	if strings.ContainsAny(out, "\x1b\r") {
		t.Error("plain output contains control codes")
	}
	byName := map[string]Service{}
	var padded []string
	for _, s := range services {
		byName[s.Name] = s
	}
	for _, s := range services {
		padded = append(padded, fmt.Sprintf("  %-6s ", s.Name))
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	// The closing lines start at the first ✓, ✗ or - line: one per service, in order, a
	// failure followed by its indented (or blank) lines.
	last := slices.IndexFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "✓ ") || strings.HasPrefix(l, "✗ ") || strings.HasPrefix(l, "- ")
	})
	if last < 1 || lines[last-1] != "" {
		t.Fatalf("no blank line before the closing lines")
	}
	var order []string
	for _, l := range lines[last:] {
		if l == "" || strings.HasPrefix(l, "  ") { // the lines under a failure
			continue
		}
		name, _, ok := strings.Cut(l[strings.IndexByte(l, ' ')+1:], ":")
		if !ok {
			t.Errorf("closing line %q names no service", l)
		}
		order = append(order, name)
	}
	if fmt.Sprint(order) != fmt.Sprint([]string{"api", "worker", "batch"}) {
		t.Errorf("closing lines in order %v, want the services' order", order)
	}

	block := "" // the service whose header block is being read
	for _, l := range lines[:last] {
		switch {
		case l == "":
			block = ""
		case strings.HasPrefix(l, "Building ") || strings.HasPrefix(l, "Pushing "):
			name := strings.TrimSuffix(l[strings.IndexByte(l, ' ')+1:], "...")
			if _, ok := byName[name]; !ok {
				t.Errorf("header %q names no service", l)
			}
			block = name
		case strings.HasPrefix(l, "  → "):
			s, ok := byName[block]
			if !ok {
				t.Errorf("%q is not under a header", l)
				continue
			}
			detail := strings.TrimPrefix(l, "  → ")
			if detail != "Dockerfile: "+s.Dockerfile && detail != "Context: "+s.Context &&
				detail != "Target: "+s.Target && (len(s.Destinations) == 0 || detail != s.Destinations[0]) {
				t.Errorf("%q under the header of %s belongs to another service", l, block)
			}
		default:
			block = ""
			ok := false
			for _, p := range padded {
				ok = ok || strings.HasPrefix(l, p)
			}
			if !ok {
				t.Errorf("line %q does not start with a service name", l)
			}
		}
	}
}

func TestPlainFailure(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	task := p.Add(api)
	task.Building(2, 4, "RUN npm ci")
	task.Failed("Error: authentication to the registry failed\n\nTarget: ghcr.io/org/myapp\n\nHow to fix:\n  • run docker login ghcr.io\n  • in CI, set DOCKER_USERNAME and DOCKER_PASSWORD\n")
	task.Succeeded([]string{"too late"}, "") // ignored: the task has concluded
	task.Building(4, 4, "RUN late")
	p.Wait()
	diff(t, buf.String(), `Building api...
  → Dockerfile: ./services/api/Dockerfile
  → Context: .
  → Target: production
  [##################..................] 50% RUN npm ci
  failed: Error: authentication to the registry failed

✗ api: Error: authentication to the registry failed

  Target: ghcr.io/org/myapp

  How to fix:
    • run docker login ghcr.io
    • in CI, set DOCKER_USERNAME and DOCKER_PASSWORD
`)
}

// A failure before anything was shown (the build was never started) appears only in the
// closing lines; an empty message still says something.
func TestPlainFailureBeforeStart(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	p.Add(api).Failed("")
	p.Wait()
	diff(t, buf.String(), "✗ api: failed\n")
}

func TestPlainSkipped(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	a, w, d := p.Add(api), p.Add(Service{Name: "worker"}), p.Add(Service{Name: "db"})
	w.Skipped("no Dockerfile")
	d.Skipped("")
	a.Building(0, 2, "")
	a.Building(1, 2, "RUN make") // one service left building: no name before the bar
	a.Succeeded([]string{"ghcr.io/org/myapp:v1.2.0"}, apiDigest)
	p.Wait()
	diff(t, buf.String(), `Building api...
  → Dockerfile: ./services/api/Dockerfile
  → Context: .
  → Target: production
  [##################..................] 50% RUN make
  [####################################] 100%

✓ api: ghcr.io/org/myapp:v1.2.0 (`+apiDigest+`)
- worker: skipped (no Dockerfile)
- db: skipped
`)
}

func TestColor(t *testing.T) {
	run := func(o Options) string {
		var buf bytes.Buffer
		o.Out = &buf
		p := New(o)
		p.Add(api).Succeeded([]string{"ghcr.io/org/myapp:v1.2.0"}, apiDigest)
		p.Add(worker).Failed("boom")
		p.Wait()
		return buf.String()
	}
	noColor := func(k string) (string, bool) { return "", k == "NO_COLOR" }
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"terminal", Options{Color: true, LookupEnv: noEnv},
			"\x1b[32m✓\x1b[0m api: ghcr.io/org/myapp:v1.2.0 (" + apiDigest + ")\n\x1b[31m✗\x1b[0m worker: boom\n"},
		{"NO_COLOR, even empty", Options{Color: true, LookupEnv: noColor},
			"✓ api: ghcr.io/org/myapp:v1.2.0 (" + apiDigest + ")\n✗ worker: boom\n"},
		{"not a terminal", Options{LookupEnv: noEnv},
			"✓ api: ghcr.io/org/myapp:v1.2.0 (" + apiDigest + ")\n✗ worker: boom\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, run(tt.o), tt.want)
		})
	}
}

// Text from the cluster and from Kaniko's log may carry control codes; plain output must not.
func TestPlainOutputHasNoControlCodes(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	task := p.Add(Service{Name: "api\x1b[2J", Dockerfile: "./Docker\rfile", Context: ".\n."})
	task.Pending("slot\r\x1b[1A")
	task.Building(1, 2, "RUN printf '\\033[31m' \x1b[31mred\x1b[0m\r")
	task.Failed("first\x1b[K line\r\nsecond\tline\x07\n\u009b31m \xff")
	p.Wait()
	out := buf.String()
	if strings.ContainsAny(out, "\x1b\r\x07\u009b\t") || !utf8.ValidString(out) {
		t.Errorf("control codes in plain output: %q", out)
	}
	if !strings.Contains(out, "✗ api [2J: first [K line\n  second line\n") {
		t.Errorf("failure lines not kept apart: %q", out)
	}
}

func TestWaitTwiceAndAddAfterWait(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	p.Add(api).Skipped("no Dockerfile")
	p.Wait()
	p.Wait()
	late := p.Add(worker)
	late.Building(1, 1, "RUN x")
	late.Succeeded([]string{"x"}, "")
	diff(t, buf.String(), "- api: skipped (no Dockerfile)\n")
}

// Wait must not return while a task is still running.
func TestWaitWaitsForTasks(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	task := p.Add(api)
	returned := make(chan struct{})
	go func() { p.Wait(); close(returned) }()
	select {
	case <-returned:
		t.Fatal("Wait returned before the task concluded")
	case <-time.After(50 * time.Millisecond):
	}
	task.Succeeded(nil, "")
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the task concluded")
	}
	if !strings.HasSuffix(buf.String(), "✓ api: ghcr.io/org/myapp:v1.2.0\n") {
		t.Errorf("closing line missing: %q", buf.String())
	}
}

// Late reports of an earlier phase change nothing.
func TestPhasesOnlyMoveForward(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	task := p.Add(Service{Name: "api", Destinations: []string{"r.io/api:v1"}})
	task.Pushing(0, 2)
	task.Building(1, 2, "RUN late")
	task.Pending("late")
	task.Pushing(1, 2)
	task.Succeeded(nil, "")
	p.Wait()
	diff(t, buf.String(), `Building api...
  [####################################] 100%

Pushing api...
  → r.io/api:v1
  [##################..................] 50%
  [####################################] 100%

✓ api: r.io/api:v1
`)
}

func TestPercent(t *testing.T) {
	tests := []struct{ done, total, want int }{
		{0, 0, -1}, {5, 0, -1}, {3, -1, -1}, {0, 4, 0}, {1, 4, 25}, {1, 3, 33}, {4, 4, 100}, {9, 4, 100}, {-2, 4, 0},
	}
	for _, tt := range tests {
		if got := percent(tt.done, tt.total); got != tt.want {
			t.Errorf("percent(%d, %d) = %d, want %d", tt.done, tt.total, got, tt.want)
		}
	}
}

func TestShorten(t *testing.T) {
	if got := shorten("RUN apt-get install", 10); got != "RUN apt-g…" {
		t.Errorf("shorten = %q", got)
	}
	if got := shorten("RUN ✓", 5); got != "RUN ✓" {
		t.Errorf("shorten = %q", got)
	}
}

// Detect never chooses live bars or colours for something that is not a terminal.
func TestDetectNotATerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // nothing is written to f, so Close cannot lose data
	o := Detect(f)
	if o.Live || o.Color || o.Out != f {
		t.Errorf("Detect(file) = %+v, want plain output to the file", o)
	}
}

// A multi-platform build: one progress line per platform under the one Building block, and the
// platforms on the closing line after the index digest.
func TestPlainPlatforms(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	svc := api
	svc.Destinations = []string{"ghcr.io/org/myapp:v1.2.0", "ghcr.io/org/myapp:latest"}
	svc.Platforms = []string{"linux/amd64", "linux/arm/v7"}
	task := p.Add(svc)
	amd, arm := task.Platform("linux/amd64"), task.Platform("linux/arm/v7")
	arm.Pending("waiting for a free build slot")
	amd.Building(0, 4, "COPY . .")
	amd.Building(2, 4, "RUN make")
	arm.Building(1, 4, "COPY . .")
	amd.Built()
	amd.Building(3, 4, "late") // after Built: ignored
	arm.Building(4, 4, "")
	task.Platform("linux/s390x").Building(1, 1, "") // not a platform of the service: nothing
	task.Pushing(1, 1)
	task.Succeeded(nil, apiDigest)
	p.Wait()
	diff(t, buf.String(), `Building api...
  → Dockerfile: ./services/api/Dockerfile
  → Context: .
  → Target: production
  linux/arm/v7 waiting: waiting for a free build slot
  linux/amd64  [##################..................] 50% RUN make
  linux/arm/v7 [#########...........................] 25% COPY . .
  linux/amd64  [####################################] 100%
  linux/arm/v7 [####################################] 100%

Pushing api...
  → ghcr.io/org/myapp:v1.2.0
  → ghcr.io/org/myapp:latest
  [####################################] 100%

✓ api: ghcr.io/org/myapp:v1.2.0, ghcr.io/org/myapp:latest (`+apiDigest+` for linux/amd64, linux/arm/v7)
`)
}

// A platform that fails says so under the block at once; the service's failure ends the build.
func TestPlainPlatformFails(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	svc := worker
	svc.Platforms = []string{"linux/amd64", "linux/arm64"}
	task := p.Add(svc)
	task.Platform("linux/arm64").Building(1, 2, "RUN make")
	task.Platform("linux/arm64").Failed("BuildFailed: RUN make failed\nmore")
	task.Failed("BuildFailed: linux/arm64 failed: RUN make failed")
	p.Wait()
	diff(t, buf.String(), `Building worker...
  → Dockerfile: ./services/worker/Dockerfile
  → Context: .
  linux/arm64 [##################..................] 50% RUN make
  linux/arm64 failed: BuildFailed: RUN make failed
  failed: BuildFailed: linux/arm64 failed: RUN make failed

✗ worker: BuildFailed: linux/arm64 failed: RUN make failed
`)
}

// A service whose image was up to date ends with its closing line, the reused digest and the
// note, next to one that built.
func TestPlainUpToDate(t *testing.T) {
	var buf bytes.Buffer
	p := plain(&buf)
	a, w := p.Add(api), p.Add(worker)
	a.Pending("build accepted")
	a.UpToDate([]string{"ghcr.io/org/myapp:v1.2.0", "ghcr.io/org/myapp:latest"}, apiDigest, "(up to date)")
	a.Building(1, 2, "RUN make") // too late: the task has concluded
	w.Building(1, 1, "")
	w.Succeeded(nil, workerDigest)
	p.Wait()
	// The wait shows as it does for any build; no bar pretends that anything ran.
	diff(t, buf.String(), `Building api...
  → Dockerfile: ./services/api/Dockerfile
  → Context: .
  → Target: production
  api    waiting: build accepted
Building worker...
  → Dockerfile: ./services/worker/Dockerfile
  → Context: .
  worker [####################################] 100%

✓ api: ghcr.io/org/myapp:v1.2.0, ghcr.io/org/myapp:latest (`+apiDigest+`) (up to date)
✓ worker: ghcr.io/org/myapp-worker:v1.2.0 (`+workerDigest+`)
`)
}
