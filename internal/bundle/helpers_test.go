package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// node describes one file of a test tree. The zero mode means 0o644 for files and 0o755
// for folders, so that trees do not depend on the umask.
type node struct {
	dir     bool
	content string
	link    string // non-empty: a symlink with this target
	mode    fs.FileMode
}

func file(content string) node              { return node{content: content} }
func fileMode(c string, m fs.FileMode) node { return node{content: c, mode: m} }
func dir() node                             { return node{dir: true} }
func symlink(target string) node            { return node{link: target} }

// writeTree creates tree under root in the order given by order (slash paths), creating
// parent folders as needed. Modes are set explicitly, folders last, to be umask-independent.
func writeTree(t testing.TB, root string, tree map[string]node, order []string) {
	t.Helper()
	if order == nil {
		order = sortedKeys(tree)
	}
	for _, name := range order {
		n := tree[name]
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case n.dir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case n.link != "":
			if err := os.Symlink(n.link, p); err != nil {
				t.Fatal(err)
			}
		default:
			mode := n.mode
			if mode == 0 {
				mode = 0o644
			}
			if err := os.WriteFile(p, []byte(n.content), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Folders: explicit mode for those listed, 0o755 for implicit ones, deepest first.
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, p := range dirs {
		rel, _ := filepath.Rel(root, p)
		mode := fs.FileMode(0o755)
		if n, ok := tree[filepath.ToSlash(rel)]; ok && n.mode != 0 {
			mode = n.mode
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// pack runs Pack into memory and fails the test on error.
func pack(t testing.TB, contextDir, dockerfile string) ([]byte, PackStats) {
	t.Helper()
	var buf bytes.Buffer
	stats, err := Pack(PackOptions{ContextDir: contextDir, Dockerfile: dockerfile}, &buf)
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	return buf.Bytes(), stats
}

// tarEntry is a decoded archive entry.
type tarEntry struct {
	hdr     *tar.Header
	content string
}

func readArchive(t testing.TB, gz []byte) []tarEntry {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading archive: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr: hdr, content: string(b)})
	}
}

func entryNames(entries []tarEntry) []string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.hdr.Name
	}
	return names
}

// snapshot describes every file under root as "type mode detail", keyed by slash path, so
// that two trees can be compared with one equality check.
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[key] = "symlink -> " + target
		case fi.IsDir():
			out[key] = fmt.Sprintf("dir %v", fi.Mode().Perm())
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[key] = fmt.Sprintf("file %v %s", fi.Mode().Perm(), hex.EncodeToString(sum[:8]))
		default:
			out[key] = "special " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hostile is one entry of a hand-made archive.
type hostile struct {
	name     string
	typ      byte
	content  string
	linkname string
	mode     int64
}

// makeArchive builds a gzipped tar from entries exactly as given, bypassing every rule Pack
// follows, to feed Extract what an attacker could.
func makeArchive(t testing.TB, entries []hostile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.linkname, Mode: mode, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.content))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("header %q: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.content); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// onlyDest fails the test when base holds anything but dest and the listed untouched
// folders, or when those folders hold anything but a regular file named "file" (the bait
// some tests put there): proof that nothing escaped dest.
func onlyDest(t testing.TB, base string, untouched ...string) {
	t.Helper()
	des, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Name() == "dest" {
			continue
		}
		if !slices.Contains(untouched, de.Name()) {
			t.Errorf("extraction wrote %q outside dest", de.Name())
			continue
		}
		inner, err := os.ReadDir(filepath.Join(base, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range inner {
			if x.Name() != "file" || !x.Type().IsRegular() {
				t.Errorf("extraction wrote %q outside dest", filepath.Join(de.Name(), x.Name()))
			}
		}
	}
}

func mustContain(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

// gzipTar is a tar writer whose Close also finishes the gzip stream around it.
type gzipTar struct {
	*tar.Writer
	zw *gzip.Writer
}

func newGzipTar(w io.Writer) *gzipTar {
	zw := gzip.NewWriter(w)
	return &gzipTar{Writer: tar.NewWriter(zw), zw: zw}
}

func (g *gzipTar) Close() error {
	if err := g.Writer.Close(); err != nil {
		return err
	}
	return g.zw.Close()
}
