package fetchsource

import "testing"

// A build pod started with flags this version does not know must fail at once, with the usage
// exit code, rather than pull anything.
func TestUnknownFlag(t *testing.T) {
	if code := Main([]string{"--no-such-flag"}); code != 2 {
		t.Errorf("Main(--no-such-flag) = %d, want 2", code)
	}
}
