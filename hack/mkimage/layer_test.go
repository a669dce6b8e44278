package main

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "/kaniko/executor", want: "kaniko/executor"},
		{in: "./bin/sh", want: "bin/sh"},
		{in: "etc//passwd", want: "etc/passwd"},
		{in: "tmp/", want: "tmp"},
		{in: "a/../b", wantErr: `contains ".."`},
		{in: "../etc/passwd", wantErr: `contains ".."`},
		{in: "/", wantErr: "names the image root"},
		{in: "", wantErr: "names the image root"},
		{in: `bin\sh`, wantErr: "backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := cleanName(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("cleanName(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("cleanName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// tarEntry is what a test checks about one tar header (and its contents).
type tarEntry struct {
	typ  byte
	mode int64
	link string
	data string
}

func readTar(t *testing.T, r io.Reader) ([]string, map[string]tarEntry) {
	t.Helper()
	tr := tar.NewReader(r)
	var order []string
	got := map[string]tarEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return order, got
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s is owned by %d:%d (%q:%q), want 0:0 with no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s has mtime %v, want %v", h.Name, h.ModTime, epoch)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, h.Name)
		got[h.Name] = tarEntry{typ: h.Typeflag, mode: h.Mode, link: h.Linkname, data: string(data)}
	}
}

func layerTar(t *testing.T, l v1.Layer) ([]string, map[string]tarEntry) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := rc.Close(); err != nil {
			t.Errorf("closing the uncompressed layer: %v", err)
		}
	}()
	return readTar(t, rc)
}

func TestLayerBuilderWritesSortedRootOwnedEntries(t *testing.T) {
	host := filepath.Join(t.TempDir(), "exe")
	if err := os.WriteFile(host, []byte("#!binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newLayer()
	for _, err := range []error{
		b.addHostFile("/kaniko/executor", host),
		b.addFile("etc/passwd", []byte("root:x:0:0::/root:/bin/sh\n")),
		b.addSymlink("bin/sh", "busybox"),
		b.addDir("tmp", 0o777|fs.ModeSticky),
		b.addDir("kaniko", 0o777),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := b.writeTar(&buf); err != nil {
		t.Fatal(err)
	}
	order, got := readTar(t, &buf)
	wantOrder := []string{"bin/", "bin/sh", "etc/", "etc/passwd", "kaniko/", "kaniko/executor", "tmp/"}
	if strings.Join(order, " ") != strings.Join(wantOrder, " ") {
		t.Fatalf("entries = %v, want %v (parents first, sorted, implicit parents added)", order, wantOrder)
	}
	want := map[string]tarEntry{
		"bin/":            {typ: tar.TypeDir, mode: 0o755},
		"bin/sh":          {typ: tar.TypeSymlink, mode: 0o777, link: "busybox"},
		"etc/":            {typ: tar.TypeDir, mode: 0o755},
		"etc/passwd":      {typ: tar.TypeReg, mode: 0o644, data: "root:x:0:0::/root:/bin/sh\n"},
		"kaniko/":         {typ: tar.TypeDir, mode: 0o777},
		"kaniko/executor": {typ: tar.TypeReg, mode: 0o755, data: "#!binary"},
		"tmp/":            {typ: tar.TypeDir, mode: 0o1777},
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s = %+v, want %+v", n, got[n], w)
		}
	}
}

func TestLayerBuilderRefusesFileAsParent(t *testing.T) {
	b := newLayer()
	if err := b.addFile("etc", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.addFile("etc/passwd", []byte("y")); err != nil {
		t.Fatal(err)
	}
	_, err := b.layer()
	if err == nil || !strings.Contains(err.Error(), `"etc" is needed as a directory`) {
		t.Fatalf("layer() error = %v, want one naming etc as a needed directory", err)
	}
}

func makeTree(t *testing.T, dir string, mtime time.Time) {
	t.Helper()
	files := map[string]string{"bin/tool": "tool", "etc/motd": "hello\n", "a/b/c/deep.txt": "deep"}
	for n, data := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "bin/tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../etc/motd", filepath.Join(dir, "bin/motd")); err != nil {
		t.Fatal(err)
	}
}

func TestAddTreeIsDeterministic(t *testing.T) {
	digest := func(mtime time.Time) (v1.Hash, map[string]tarEntry) {
		dir := t.TempDir()
		makeTree(t, dir, mtime)
		b := newLayer()
		if err := b.addTree(dir); err != nil {
			t.Fatal(err)
		}
		l, err := b.layer()
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		_, entries := layerTar(t, l)
		return d, entries
	}
	d1, entries := digest(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	d2, _ := digest(time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC))
	if d1 != d2 {
		t.Fatalf("the same tree with other mtimes gave digests %s and %s; want equal", d1, d2)
	}
	if e := entries["bin/tool"]; e.mode != 0o755 || e.data != "tool" {
		t.Errorf("bin/tool = %+v, want mode 0755 with its contents", e)
	}
	if e := entries["bin/motd"]; e.typ != tar.TypeSymlink || e.link != "../etc/motd" {
		t.Errorf("bin/motd = %+v, want a symlink to ../etc/motd", e)
	}
	if _, ok := entries["a/b/"]; !ok {
		t.Errorf("intermediate directory a/b/ missing from %v", entries)
	}
}

func TestAddTreeRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skipf("cannot make a fifo here: %v", err)
	}
	err := newLayer().addTree(dir)
	if err == nil || !strings.Contains(err.Error(), "only regular files, directories and symlinks") {
		t.Fatalf("addTree error = %v, want a refusal of the fifo", err)
	}
}

func TestAddTreeNeedsADirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f, filepath.Join(t.TempDir(), "missing")} {
		if err := newLayer().addTree(p); err == nil {
			t.Errorf("addTree(%s) succeeded, want an error", p)
		}
	}
}
