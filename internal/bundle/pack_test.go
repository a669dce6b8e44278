package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// longName's last component is longer than the 100 bytes a USTAR name field holds.
const longName = "deep/a-file-name-that-is-long-enough-that-it-does-not-fit-the-hundred-bytes-of-a-ustar-name-field-even-without-its-folder.txt"

// reproTree exercises ordering ("a/" against "a.txt"), modes, an empty folder, a symlink,
// a name too long for a plain USTAR header and a non-ASCII name.
func reproTree() map[string]node {
	return map[string]node{
		"Dockerfile":   file("FROM scratch\nCOPY . /app\n"),
		"main.go":      file("package main\n"),
		"a.txt":        file("a"),
		"a/z.txt":      file("z"),
		"bin/run.sh":   fileMode("#!/bin/sh\necho hi\n", 0o755),
		"secret/key":   fileMode("k", 0o600),
		"empty":        dir(),
		"link":         symlink("main.go"),
		longName:       file("long"),
		"ünïcödé.txt":  file("u"),
		"private":      {dir: true, mode: 0o700},
		"private/note": file("n"),
	}
}

func TestPackReproducible(t *testing.T) {
	tree := reproTree()
	reference := t.TempDir()
	writeTree(t, reference, tree, nil)
	want, _ := pack(t, reference, filepath.Join(reference, "Dockerfile"))

	reversed := sortedKeys(tree)
	slices.Reverse(reversed)

	cases := []struct {
		name   string
		order  []string
		mutate func(t *testing.T, root string)
		same   bool
	}{
		{name: "identical copy", same: true},
		{name: "created in reverse order", order: reversed, same: true},
		{name: "every mtime touched", same: true, mutate: func(t *testing.T, root string) {
			later := time.Now().Add(3 * time.Hour)
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type()&fs.ModeSymlink == 0 {
					if err := os.Chtimes(p, later, later); err != nil {
						t.Fatal(err)
					}
				}
				return err
			})
		}},
		{name: "other owners", same: true, mutate: func(t *testing.T, root string) {
			if os.Geteuid() != 0 {
				t.Skip("changing owners needs root")
			}
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil {
					if err := os.Lchown(p, 4242, 4343); err != nil {
						t.Fatal(err)
					}
				}
				return err
			})
		}},
		{name: "content changed", mutate: func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "main.go"), "package main // changed\n")
		}},
		{name: "same size, one byte changed", mutate: func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "a/z.txt"), "y")
		}},
		{name: "mode changed", mutate: func(t *testing.T, root string) {
			if err := os.Chmod(filepath.Join(root, "main.go"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "symlink target changed", mutate: func(t *testing.T, root string) {
			_ = os.Remove(filepath.Join(root, "link"))
			if err := os.Symlink("a.txt", filepath.Join(root, "link")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "file added", mutate: func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "new.txt"), "")
		}},
		{name: "empty folder removed", mutate: func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, "empty")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "another-name")
			writeTree(t, root, tree, tc.order)
			if tc.mutate != nil {
				tc.mutate(t, root)
			}
			got, _ := pack(t, root, filepath.Join(root, "Dockerfile"))
			if same := bytes.Equal(got, want); same != tc.same {
				t.Fatalf("archive identical to the reference: %v, want %v", same, tc.same)
			}
		})
	}
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPackNormalizesHeaders(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, reproTree(), nil)
	if os.Geteuid() == 0 {
		if err := os.Lchown(filepath.Join(root, "main.go"), 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	gz, stats := pack(t, root, filepath.Join(root, "Dockerfile"))

	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" || zr.Extra != nil {
		t.Errorf("gzip header carries name %q, time %v, comment %q, extra %q; want none", zr.Name, zr.ModTime, zr.Comment, zr.Extra)
	}

	entries := readArchive(t, gz)
	wantOrder := []string{
		"Dockerfile", "a/", "a/z.txt", "a.txt", "bin/", "bin/run.sh", "deep/", longName,
		"empty/", "link", "main.go", "private/", "private/note", "secret/", "secret/key", "ünïcödé.txt",
	}
	if got := entryNames(entries); !slices.Equal(got, wantOrder) {
		t.Fatalf("entries\n got %q\nwant %q", got, wantOrder)
	}
	wantMode := map[string]int64{
		"a/": 0o755, "bin/run.sh": 0o755, "secret/key": 0o600, "private/": 0o700, "main.go": 0o644, "link": 0o777,
	}
	for _, e := range entries {
		h := e.hdr
		if !h.ModTime.Equal(epoch) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: times %v/%v/%v, want mtime 0 only", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if m, ok := wantMode[h.Name]; ok && h.Mode != m {
			t.Errorf("%s: mode %o, want %o", h.Name, h.Mode, m)
		}
		// Only names a USTAR header cannot hold need a PAX record, and then only the path.
		needsPAX := h.Name == longName || h.Name == "ünïcödé.txt"
		if needsPAX {
			if len(h.PAXRecords) != 1 || h.PAXRecords["path"] != h.Name {
				t.Errorf("%s: PAX records %v, want only the path", h.Name, h.PAXRecords)
			}
		} else if len(h.PAXRecords) != 0 || h.Format != tar.FormatUSTAR {
			t.Errorf("%s: format %v with PAX records %v, want plain USTAR", h.Name, h.Format, h.PAXRecords)
		}
	}
	if got := entries[slices.IndexFunc(entries, func(e tarEntry) bool { return e.hdr.Name == "link" })]; got.hdr.Typeflag != tar.TypeSymlink || got.hdr.Linkname != "main.go" {
		t.Errorf("link: type %q target %q, want a symlink to main.go", got.hdr.Typeflag, got.hdr.Linkname)
	}
	// 9 regular files and one symlink; sizes add up the contents.
	wantBytes := int64(0)
	for _, n := range reproTree() {
		wantBytes += int64(len(n.content))
	}
	if stats.Files != 10 || stats.Bytes != wantBytes || stats.DockerfilePath != "Dockerfile" {
		t.Errorf("stats %+v, want 10 files, %d bytes, Dockerfile", stats, wantBytes)
	}
}

// ignoreTree is the context of the .dockerignore cases.
func ignoreTree() map[string]node {
	return map[string]node{
		"Dockerfile":              file("FROM scratch\n"),
		"README.md":               file("r"),
		"CHANGELOG.md":            file("c"),
		"app.log":                 file("l"),
		"main.go":                 file("m"),
		"secret.txt":              file("s"),
		"build/out.bin":           file("b"),
		"sub/build/keep.txt":      file("k"),
		"sub/debug.log":           file("d"),
		"sub/deeper/trace.log":    file("t"),
		"vendor/keep/a.go":        file("a"),
		"vendor/other.go":         file("o"),
		"docs/guide.md":           file("g"),
		"docs/img.png":            file("i"),
		"docker/Dockerfile":       file("FROM scratch\n"),
		"docker/notes.txt":        file("n"),
		"node_modules/x/index.js": file("x"),
	}
}

func TestPackDockerignore(t *testing.T) {
	// all is every entry of ignoreTree when nothing is ignored, in archive order.
	all := []string{
		".dockerignore", "CHANGELOG.md", "Dockerfile", "README.md", "app.log", "build/", "build/out.bin",
		"docker/", "docker/Dockerfile", "docker/notes.txt", "docs/", "docs/guide.md", "docs/img.png",
		"main.go", "node_modules/", "node_modules/x/", "node_modules/x/index.js", "secret.txt",
		"sub/", "sub/build/", "sub/build/keep.txt", "sub/debug.log", "sub/deeper/", "sub/deeper/trace.log",
		"vendor/", "vendor/keep/", "vendor/keep/a.go", "vendor/other.go",
	}
	cases := []struct {
		name       string
		ignore     string // content of .dockerignore; "-" for no file at all
		dockerfile string // relative to the context; default Dockerfile
		gone       []string
		only       []string // when set, the exact list expected
	}{
		{name: "no .dockerignore", ignore: "-", gone: []string{".dockerignore"}},
		{name: "empty .dockerignore", ignore: ""},
		{name: "plain names", ignore: "secret.txt\nmain.go\n", gone: []string{"secret.txt", "main.go"}},
		{name: "double star at any depth", ignore: "**/*.log", gone: []string{"app.log", "sub/debug.log", "sub/deeper/trace.log"}},
		{name: "single star stays at the root", ignore: "*.log", gone: []string{"app.log"}},
		{name: "exception", ignore: "*.md\n!README.md", gone: []string{"CHANGELOG.md"}},
		{name: "later pattern wins over an earlier exception", ignore: "!README.md\n*.md", gone: []string{"CHANGELOG.md", "README.md"}},
		{name: "excluded folder is not entered", ignore: "node_modules", gone: []string{"node_modules/", "node_modules/x/", "node_modules/x/index.js"}},
		{name: "excluded folder with a re-included child", ignore: "vendor\n!vendor/keep", gone: []string{"vendor/other.go"}},
		{name: "excluded folder with a wildcard exception", ignore: "docs\n!docs/*.md", gone: []string{"docs/img.png"}},
		{name: "wildcard exception at any depth", ignore: "sub\n!**/keep.txt", gone: []string{"sub/debug.log", "sub/deeper/", "sub/deeper/trace.log"}},
		{name: "leading slash anchors at the root", ignore: "/build", gone: []string{"build/", "build/out.bin"}},
		{name: "folder pattern anchors at the root too", ignore: "build/", gone: []string{"build/", "build/out.bin"}},
		{name: "comments and blank lines", ignore: "# main.go\n\n   \nsecret.txt   \n", gone: []string{"secret.txt"}},
		{name: "excluding everything keeps the Dockerfile and .dockerignore", ignore: "*", only: []string{".dockerignore", "Dockerfile"}},
		{name: "excluding them explicitly keeps them too", ignore: ".dockerignore\nDockerfile", gone: nil},
		{
			name: "Dockerfile in an excluded folder", ignore: "docker", dockerfile: "docker/Dockerfile",
			gone: []string{"docker/notes.txt"},
		},
		{
			name: "Dockerfile in an excluded folder, everything excluded", ignore: "*", dockerfile: "docker/Dockerfile",
			only: []string{".dockerignore", "docker/", "docker/Dockerfile"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, ignoreTree(), nil)
			if tc.ignore != "-" {
				writeFile(t, filepath.Join(root, ".dockerignore"), tc.ignore)
			}
			df := tc.dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			gz, stats := pack(t, root, filepath.Join(root, filepath.FromSlash(df)))
			want := tc.only
			if want == nil {
				for _, name := range all {
					if !slices.Contains(tc.gone, name) {
						want = append(want, name)
					}
				}
			}
			if got := entryNames(readArchive(t, gz)); !slices.Equal(got, want) {
				t.Fatalf("entries\n got %q\nwant %q", got, want)
			}
			if stats.DockerfilePath != df {
				t.Errorf("DockerfilePath %q, want %q", stats.DockerfilePath, df)
			}
		})
	}
}

func TestPackDockerfileOutsideContext(t *testing.T) {
	cases := []struct {
		name    string
		context map[string]node
		want    []string
		wantErr string
	}{
		{
			name:    "plain context",
			context: map[string]node{"main.go": file("m")},
			want:    []string{".flow/", ".flow/Dockerfile", "main.go"},
		},
		{
			name:    "context with its own .flow folder",
			context: map[string]node{".flow/cache": file("c"), "main.go": file("m")},
			want:    []string{".flow/", ".flow/Dockerfile", ".flow/cache", "main.go"},
		},
		{
			name:    "context already has .flow/Dockerfile",
			context: map[string]node{".flow/Dockerfile": file("FROM other\n")},
			wantErr: "already has a file there",
		},
		{
			name:    "context has a file named .flow",
			context: map[string]node{".flow": file("x")},
			wantErr: "is not a folder",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			ctx := filepath.Join(base, "app")
			writeTree(t, ctx, tc.context, nil)
			df := filepath.Join(base, "dockerfiles", "Dockerfile.app")
			writeTree(t, filepath.Dir(df), map[string]node{"Dockerfile.app": fileMode("FROM scratch\nCOPY main.go /\n", 0o640)}, nil)

			var buf bytes.Buffer
			stats, err := Pack(PackOptions{ContextDir: ctx, Dockerfile: df}, &buf)
			if tc.wantErr != "" {
				mustContain(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			entries := readArchive(t, buf.Bytes())
			if got := entryNames(entries); !slices.Equal(got, tc.want) {
				t.Fatalf("entries %q, want %q", got, tc.want)
			}
			if stats.DockerfilePath != ExternalDockerfilePath {
				t.Errorf("DockerfilePath %q, want %q", stats.DockerfilePath, ExternalDockerfilePath)
			}
			e := entries[1]
			if e.content != "FROM scratch\nCOPY main.go /\n" || e.hdr.Mode != 0o640 {
				t.Errorf(".flow/Dockerfile: mode %o content %q, want the Dockerfile's", e.hdr.Mode, e.content)
			}
		})
	}
}

func TestPackContextThroughSymlink(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	writeTree(t, real, map[string]node{"Dockerfile": file("FROM scratch\n")}, nil)
	if err := os.Symlink("real", filepath.Join(base, "via")); err != nil {
		t.Fatal(err)
	}
	// Context given through the link, Dockerfile through the real path: still inside.
	_, stats := pack(t, filepath.Join(base, "via"), filepath.Join(real, "Dockerfile"))
	if stats.DockerfilePath != "Dockerfile" {
		t.Fatalf("DockerfilePath %q, want Dockerfile (the context is the same folder)", stats.DockerfilePath)
	}
}

func TestPackSymlinks(t *testing.T) {
	cases := []struct {
		name    string
		link    string // where the link is, inside the context
		target  string
		ignore  string
		wantErr string
	}{
		{name: "to a sibling", link: "l", target: "main.go"},
		{name: "to a folder", link: "l", target: "sub"},
		{name: "up but inside", link: "sub/l", target: "../main.go"},
		{name: "dangling inside", link: "l", target: "not-there"},
		{name: "absolute", link: "l", target: "/etc/passwd", wantErr: `symlink "l" points to "/etc/passwd", outside the build context`},
		{name: "climbing out", link: "sub/l", target: "../../secret", wantErr: "outside the build context"},
		{name: "climbing out after going down", link: "l", target: "sub/../../x", wantErr: "outside the build context"},
		{name: "escaping but ignored", link: "l", target: "/etc/passwd", ignore: "l"},
		{name: "climbing out through another link", link: "l", target: "sub/up/../x", wantErr: "resolves outside the build context"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tree := map[string]node{
				"Dockerfile": file("FROM scratch\n"), "main.go": file("m"), "sub/x": file("x"),
				"sub/up": symlink(".."), tc.link: symlink(tc.target),
			}
			if tc.ignore != "" {
				tree[".dockerignore"] = file(tc.ignore)
			}
			writeTree(t, root, tree, nil)
			var buf bytes.Buffer
			_, err := Pack(PackOptions{ContextDir: root, Dockerfile: filepath.Join(root, "Dockerfile")}, &buf)
			if tc.wantErr != "" {
				mustContain(t, err, tc.wantErr)
				mustContain(t, err, ".dockerignore") // the remedy
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range readArchive(t, buf.Bytes()) {
				if e.hdr.Name == tc.link {
					if tc.ignore != "" {
						t.Fatalf("ignored link %q was packed", tc.link)
					}
					if e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != tc.target {
						t.Fatalf("%s: type %q target %q, want a symlink to %q", tc.link, e.hdr.Typeflag, e.hdr.Linkname, tc.target)
					}
					return
				}
			}
			if tc.ignore == "" {
				t.Fatalf("link %q missing from the archive", tc.link)
			}
		})
	}
}

func TestPackSkipsSpecialFiles(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]node{"Dockerfile": file("FROM scratch\n")}, nil)
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Unix socket paths are limited to ~108 bytes; a short relative name keeps under it.
	t.Chdir(root)
	l, err := net.Listen("unix", "sock")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	gz, stats := pack(t, root, filepath.Join(root, "Dockerfile"))
	if got := entryNames(readArchive(t, gz)); !slices.Equal(got, []string{"Dockerfile"}) {
		t.Fatalf("entries %q, want only the Dockerfile", got)
	}
	if stats.Files != 1 {
		t.Errorf("Files = %d, want 1", stats.Files)
	}
}

func TestPackErrors(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]node{"Dockerfile": file("FROM scratch\n"), "dfdir": dir(), "bad/.dockerignore": file("[\n"), "bad/Dockerfile": file("x")}, nil)
	cases := []struct {
		name       string
		context    string
		dockerfile string
		want       []string
	}{
		{name: "no context", context: "", dockerfile: "Dockerfile", want: []string{"no build context"}},
		{name: "no Dockerfile", context: ".", dockerfile: "", want: []string{"no Dockerfile"}},
		{name: "missing context", context: "missing", dockerfile: "Dockerfile", want: []string{`build context "` + filepath.Join(root, "missing") + `" does not exist`}},
		{name: "context is a file", context: "Dockerfile", dockerfile: "Dockerfile", want: []string{"is not a folder"}},
		{name: "missing Dockerfile", context: ".", dockerfile: "Dockerfile.prod", want: []string{"Dockerfile.prod", "does not exist"}},
		{name: "Dockerfile is a folder", context: ".", dockerfile: "dfdir", want: []string{"is not a regular file"}},
		{name: "bad .dockerignore pattern", context: "bad", dockerfile: "bad/Dockerfile", want: []string{".dockerignore", "invalid pattern", "fix the pattern"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := PackOptions{}
			if tc.context != "" {
				opts.ContextDir = filepath.Join(root, tc.context)
			}
			if tc.dockerfile != "" {
				opts.Dockerfile = filepath.Join(root, tc.dockerfile)
			}
			var buf bytes.Buffer
			_, err := Pack(opts, &buf)
			for _, w := range tc.want {
				mustContain(t, err, w)
			}
			if buf.Len() != 0 {
				t.Errorf("Pack wrote %d bytes before failing on bad input", buf.Len())
			}
		})
	}
}

// Pack refuses, before writing anything, a context the build pod would refuse to unpack, and says
// which limit it passes and where the bulk lies; a context exactly at the limits passes both.
func TestPackChecksTheClusterLimits(t *testing.T) {
	root := t.TempDir()
	tree := map[string]node{"Dockerfile": file("FROM scratch\n"), "src/main.go": file("package main\n")}
	for i := range 30 {
		tree[fmt.Sprintf("node_modules/m%02d/index.js", i)] = file(strings.Repeat("x", 5000))
	}
	tree["deep/"+strings.Repeat("d", 40)+"/f"] = file("x")
	writeTree(t, root, tree, nil)
	opts := PackOptions{ContextDir: root, Dockerfile: filepath.Join(root, "Dockerfile"), Limits: Limits{MaxPathBytes: 1 << 20}}
	var full bytes.Buffer
	if _, err := Pack(opts, &full); err != nil {
		t.Fatal(err)
	}
	entries := readArchive(t, full.Bytes())
	var usage int64
	for _, e := range entries {
		usage += DiskUsage(e.hdr.Typeflag, e.hdr.Size, strings.TrimSuffix(e.hdr.Name, "/"))
	}
	exact := Limits{MaxBytes: usage, MaxEntries: len(entries), MaxPathBytes: len("deep/" + strings.Repeat("d", 40) + "/f")}

	cases := []struct {
		name   string
		limits Limits
		want   []string
	}{
		{name: "exactly at the limits", limits: exact},
		{name: "one entry too many", limits: Limits{MaxBytes: exact.MaxBytes, MaxEntries: exact.MaxEntries - 1, MaxPathBytes: exact.MaxPathBytes},
			want: []string{fmt.Sprintf("has %d files and folders, more than the %d", exact.MaxEntries, exact.MaxEntries-1), ".dockerignore", "the most: node_modules 61"}},
		{name: "one byte too many", limits: Limits{MaxBytes: exact.MaxBytes - 1, MaxEntries: exact.MaxEntries, MaxPathBytes: exact.MaxPathBytes},
			want: []string{"unpacked, more than the", ".dockerignore", "the largest: node_modules 365.3 KiB"}},
		{name: "a path too long", limits: Limits{MaxBytes: exact.MaxBytes, MaxEntries: exact.MaxEntries, MaxPathBytes: exact.MaxPathBytes - 1},
			want: []string{`"deep/dddd`, fmt.Sprintf("longer than %d bytes", exact.MaxPathBytes-1), ".dockerignore"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			o.Limits = tc.limits
			var buf bytes.Buffer
			_, err := Pack(o, &buf)
			// The cluster side agrees with the CLI, entry for entry and byte for byte.
			xerr := ExtractLimited(bytes.NewReader(full.Bytes()), t.TempDir(), tc.limits)
			if len(tc.want) == 0 {
				if err != nil || xerr != nil {
					t.Fatalf("a context at the limits: Pack %v, Extract %v", err, xerr)
				}
				return
			}
			for _, w := range tc.want {
				mustContain(t, err, w)
			}
			if buf.Len() != 0 {
				t.Errorf("Pack wrote %d bytes of a context it refuses", buf.Len())
			}
			if xerr == nil {
				t.Errorf("Pack refuses what Extract accepts: %v", err)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	tree := reproTree()
	tree["readonly"] = node{dir: true, mode: 0o555}
	tree["readonly/file"] = fileMode("ro", 0o444)
	tree["emptyfile"] = file("")
	tree["sub/uplink"] = symlink("../main.go")
	src := t.TempDir()
	writeTree(t, src, tree, nil)
	gz, _ := pack(t, src, filepath.Join(src, "Dockerfile"))

	dest := filepath.Join(t.TempDir(), "workspace")
	if err := Extract(bytes.NewReader(gz), dest); err != nil {
		t.Fatal(err)
	}
	want, got := snapshot(t, src), snapshot(t, dest)
	for _, k := range sortedKeys(want) {
		if got[k] != want[k] {
			t.Errorf("%s: extracted %q, source %q", k, got[k], want[k])
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extracted but not in the source", k)
		}
	}
	// Times come from the archive, so the extracted tree is the same on every node.
	fi, err := os.Stat(filepath.Join(dest, "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(epoch) {
		t.Errorf("main.go mtime %v, want the archive's %v", fi.ModTime(), epoch)
	}
	if t.Failed() {
		t.Logf("source tree:\n%s", strings.Join(sortedKeys(want), "\n"))
	}
}
