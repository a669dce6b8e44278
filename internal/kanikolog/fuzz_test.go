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

// FuzzCountSteps: no Dockerfile may panic, the count is never negative, and skipping unused
// stages never counts more than building them all.
func FuzzCountSteps(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "node-multistage.Dockerfile"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, "production")
	f.Add(b, "")
	for _, s := range []string{
		"FROM a\nRUN <<EOF\nx\nEOF\n", "# escape=`\nFROM a\nRUN `\n", "FROM a AS b\nCOPY --from=0 x y\nFROM b\n",
		"\\\n", "FROM\n", "ONBUILD\n", "FROM a\nONBUILD\n", "FROM a\nRUN <<\n", "FROM a\nRUN 3<<-'E'\n\tE\n",
		"FROM a AS x\nCOPY --from=99999999 a b\nFROM c\nCOPY --from=1 a b\n",
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "b")
	}
	f.Fuzz(func(t *testing.T, dockerfile []byte, target string) {
		all, err := CountSteps(dockerfile, target)
		used, err2 := CountStepsSkipUnused(dockerfile, target)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("CountSteps error %v, CountStepsSkipUnused error %v", err, err2)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if all < 0 || used < 0 || used > all {
			t.Fatalf("CountSteps = %d, CountStepsSkipUnused = %d", all, used)
		}
	})
}
