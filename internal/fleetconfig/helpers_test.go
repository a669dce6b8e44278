package fleetconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree creates files under root; a name ending in "/" makes an empty folder, and content
// starting with "->" makes a symbolic link to the rest (relative to the link's folder).
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// envOf returns a getenv over a fixed map, so tests never read the process environment.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// realTempDir returns t.TempDir() with symbolic links resolved, since Config.Root is.
func realTempDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}
