package poll

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure and stops the helper, instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

type stopped struct{}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(stopped{})
}

// run calls f and returns once it finished or failed through r.
func (r *recorder) run(f func()) {
	defer func() {
		if v := recover(); v != nil && v != (stopped{}) {
			panic(v)
		}
	}()
	f()
}

func TestEventually(t *testing.T) {
	n := 0
	r := &recorder{TB: t}
	r.run(func() {
		Eventually(r, time.Second, "the third call", func() (bool, string) { n++; return n == 3, fmt.Sprint(n) })
	})
	if r.failed != "" || n != 3 {
		t.Errorf("Eventually failed (%q) or did not stop at once (%d calls)", r.failed, n)
	}
	r = &recorder{TB: t}
	r.run(func() { Eventually(r, 2*Interval, "never", func() (bool, string) { return false, "still no" }) })
	if !strings.Contains(r.failed, "waiting for never: still no") {
		t.Errorf("Eventually's failure %q does not give the last explanation", r.failed)
	}
}

func TestConsistently(t *testing.T) {
	n := 0
	r := &recorder{TB: t}
	began := time.Now()
	r.run(func() { Consistently(r, 3*Interval, "always", func() (bool, string) { n++; return true, "" }) })
	// The condition is checked at the start and again once the time is up; how many checks fall in
	// between depends on how busy the machine is, so only those two are certain.
	if r.failed != "" || n < 2 || time.Since(began) < 3*Interval {
		t.Errorf("Consistently: failure %q, %d calls in %s", r.failed, n, time.Since(began))
	}
	r = &recorder{TB: t}
	n = 0
	r.run(func() { Consistently(r, time.Minute, "one pod", func() (bool, string) { n++; return n < 2, "2 pods" }) })
	if !strings.Contains(r.failed, "one pod stopped holding: 2 pods") || n != 2 {
		t.Errorf("Consistently did not fail at once with the explanation: %q after %d calls", r.failed, n)
	}
}
