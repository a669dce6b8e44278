package manager

import (
	"strings"
	"testing"
)

func TestLastBytesKeepsWholeLinesOfTheEnd(t *testing.T) {
	b := &lastBytes{max: 64}
	for i := range 100 {
		_, _ = b.Write([]byte(strings.Repeat("x", i%7) + " line\n"))
	}
	_, _ = b.Write([]byte("clone https://bob:hunter2@example.com/x.git\nerror building image: boom\n"))
	got := b.String()
	if got != "error building image: boom\n" {
		t.Errorf("kept %q; want the last whole line only (the one before it does not fit in 64 bytes)", got)
	}
	small := &lastBytes{max: 64}
	_, _ = small.Write([]byte("a\nb\n"))
	if small.String() != "a\nb\n" {
		t.Errorf("a log that fits was changed: %q", small.String())
	}
}
