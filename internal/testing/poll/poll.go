// Package poll waits for conditions in tests that watch a system from outside (an API server, a
// node): Eventually for something that must happen, Consistently for something that must not,
// instead of sleeping a fixed time and hoping.
package poll

import (
	"testing"
	"time"
)

// Interval is how often a condition is evaluated.
const Interval = 50 * time.Millisecond

// Eventually evaluates cond every Interval until it returns true, and fails the test after timeout
// with cond's last explanation.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(Interval)
	}
}

// Consistently evaluates cond every Interval for the duration d and fails the test as soon as it
// returns false, with its explanation. Use it where a test would sleep to give a wrong action the
// chance to happen (a second pod, a rebuild) and then look once.
func Consistently(t testing.TB, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if ok, why := cond(); !ok {
			t.Fatalf("%s stopped holding: %s", what, why)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(Interval)
	}
}
