package kanikolog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseLine: no line may panic, and every event must carry text (an event without text would
// show as an empty step or an empty error).
func FuzzParseLine(f *testing.F) {
	for _, name := range []string{"node-multistage.color.log", "node-multistage.text.log", "node-multistage.json.log"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			f.Add(line)
		}
	}
	for _, s := range []string{
		"error building image: x", "Error: cache flags invalid: y", "\x1b[", "\x1b[31mFATA\x1b[0m[] ",
		`time= level=info msg="`, `{"level":"info","msg":"RUN x"`, "INFO[0000] Building stage '' [idx: '99999999999999999999', base-idx: '-1']",
		"INFO[0000] Pushing image to :", "INFO[0000] Pushing layer  to cache now",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var p Parser
		for _, parse := range []func(string) (Event, bool){ParseLine, p.Parse} {
			ev, ok := parse(line)
			if !ok {
				if ev != (Event{}) {
					t.Fatalf("not an event but %v", ev)
				}
				continue
			}
			if ev.Text == "" && ev.Kind != Stage {
				t.Fatalf("%v event without text from %q", ev.Kind, line)
			}
			if ev.Kind < Step || ev.Kind > Error {
				t.Fatalf("unknown kind %v", ev.Kind)
			}
		}
	})
}
