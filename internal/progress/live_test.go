package progress

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetflow/flow-build/internal/testing/syncbuf"
)

// waitOrFail runs p.Wait and fails the test if it does not return: a bar left running would
// hang the CLI.
func waitOrFail(t *testing.T, p *Printer) {
	t.Helper()
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return")
	}
}

func TestLive(t *testing.T) {
	var out syncbuf.Buffer
	p := New(Options{Out: &out, Live: true, Width: 100, LookupEnv: noEnv})
	a, w, s := p.Add(api), p.Add(worker), p.Add(Service{Name: "db"})
	s.Skipped("no Dockerfile")

	var wg sync.WaitGroup
	wg.Go(func() {
		a.Pending("waiting for a free build slot")
		for d := range 4 {
			a.Building(d, 4, "RUN npm ci")
			time.Sleep(20 * time.Millisecond)
		}
		a.Pushing(0, 0)
		time.Sleep(200 * time.Millisecond) // at least one refresh while pushing
		a.Succeeded([]string{"ghcr.io/org/myapp:v1.2.0"}, apiDigest)
	})
	wg.Go(func() {
		w.Building(1, 3, "COPY . .")
		time.Sleep(200 * time.Millisecond)
		w.Failed("Error: pushing the image failed\n\nHow to fix:\n  • check the network")
	})
	wg.Wait()
	waitOrFail(t, p)

	got := out.String()
	wantEnd := "\n✓ api: ghcr.io/org/myapp:v1.2.0 (" + apiDigest + ")\n" +
		"✗ worker: Error: pushing the image failed\n\n  How to fix:\n    • check the network\n" +
		"- db: skipped (no Dockerfile)\n"
	if !strings.HasSuffix(got, wantEnd) {
		t.Errorf("output does not end with the closing lines\n--- got ---\n%q\n--- want suffix ---\n%q", got, wantEnd)
	}
	bars := strings.TrimSuffix(got, wantEnd)
	// The final frame shows every service with how it ended.
	for _, want := range []string{"api", "worker", "db", "done", "failed", "skipped", "no Dockerfile", "[####"} {
		if !strings.Contains(bars, want) {
			t.Errorf("the bars never show %q:\n%s", want, bars)
		}
	}
	// The Building/Pushing blocks stand above the bars, once each.
	for _, block := range []string{"Building api...\n  → Dockerfile: ", "Pushing api...\n  → ghcr.io/org/myapp:v1.2.0\n"} {
		if strings.Count(bars, block) != 1 {
			t.Errorf("the live output shows %q %d times, want once:\n%s", block, strings.Count(bars, block), bars)
		}
	}
	if !strings.Contains(bars, "pushing") {
		t.Errorf("the api bar never showed the push:\n%s", bars)
	}
	if strings.Contains(got, "\x1b[32m") {
		t.Error("colour without Color")
	}
}

// With colours allowed, the closing marks are coloured in live mode too; NO_COLOR wins.
func TestLiveColor(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  func(string) (string, bool)
		want string
	}{
		{"color", noEnv, "\x1b[32m✓\x1b[0m api: ghcr.io/org/myapp:v1.2.0\n"},
		{"NO_COLOR", func(k string) (string, bool) { return "1", k == "NO_COLOR" }, "\n✓ api: ghcr.io/org/myapp:v1.2.0\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out syncbuf.Buffer
			p := New(Options{Out: &out, Live: true, Color: true, Width: 80, LookupEnv: tt.env})
			p.Add(api).Succeeded(nil, "")
			waitOrFail(t, p)
			got := out.String()
			if !strings.HasSuffix(got, tt.want) {
				t.Errorf("output %q does not end with %q", got, tt.want)
			}
			if tt.name == "NO_COLOR" && strings.Contains(got, "\x1b[3") {
				t.Errorf("colour despite NO_COLOR: %q", got)
			}
		})
	}
}

// A multi-platform service has a bar per platform besides its own, and a platform that fails,
// or is stopped when another one fails, shows it.
func TestLivePlatforms(t *testing.T) {
	var out syncbuf.Buffer
	p := New(Options{Out: &out, Live: true, Width: 120, LookupEnv: noEnv})
	svc := api
	svc.Platforms = []string{"linux/amd64", "linux/arm64"}
	a := p.Add(svc)
	w := p.Add(Service{Name: "worker", Platforms: []string{"linux/amd64", "linux/riscv64"}})
	a.Platform("linux/amd64").Building(1, 2, "RUN make")
	a.Platform("linux/arm64").Building(0, 2, "COPY . .")
	w.Platform("linux/riscv64").Failed("BuildFailed: exec format error")
	time.Sleep(200 * time.Millisecond)
	a.Platform("linux/amd64").Built()
	a.Platform("linux/arm64").Built()
	a.Pushing(0, 1)
	a.Succeeded(nil, apiDigest)
	w.Failed("BuildFailed: linux/riscv64 failed")
	waitOrFail(t, p)
	got := out.String()
	for _, want := range []string{"api linux/amd64", "api linux/arm64", "worker linux/riscv64", "built", "failed: BuildFailed", "stopped",
		"✓ api: ghcr.io/org/myapp:v1.2.0 (" + apiDigest + " for linux/amd64, linux/arm64)\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("the live output never shows %q:\n%s", want, got)
		}
	}
}
