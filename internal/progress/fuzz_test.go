package progress

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzPlainText: whatever text arrives from the config, the cluster or Kaniko's log, plain output
// stays free of control codes, valid UTF-8, and ends with the service's closing line.
func FuzzPlainText(f *testing.F) {
	f.Add("api", "RUN npm ci", "Error: x\n\nHow to fix:\n  • y", 3, 7)
	f.Add("a\x1b[2Jb", "\r\x1b[1A", "\u009b\xff\n\n", -1, 0)
	f.Fuzz(func(t *testing.T, name, step, message string, done, total int) {
		var buf bytes.Buffer
		p := New(Options{Out: &buf, LookupEnv: noEnv})
		task := p.Add(Service{Name: name, Dockerfile: step, Context: message, Target: name, Destinations: []string{step}})
		p.Add(Service{Name: step}).Skipped(message)
		task.Pending(message)
		task.Building(done, total, step)
		task.Pushing(done, total)
		task.Failed(message)
		p.Wait()
		out := buf.String()
		if strings.ContainsFunc(out, func(r rune) bool { return r != '\n' && isControl(r) }) || !utf8.ValidString(out) {
			t.Fatalf("control codes or invalid UTF-8 in %q", out)
		}
		if !strings.Contains(out, "✗ "+oneLine(name)+": ") {
			t.Fatalf("no closing line for %q in %q", name, out)
		}
	})
}
