package dockerfile

import (
	"os"
	"path/filepath"
	"testing"
)

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
