package bundle

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExtractRefusesHostileArchives(t *testing.T) {
	reg := func(name, content string) hostile { return hostile{name: name, typ: tar.TypeReg, content: content} }
	cases := []struct {
		name    string
		entries []hostile
		want    string // in the error, with the entry's name
	}{
		{name: "dot-dot traversal", entries: []hostile{reg("../victim/pwned", "x")}, want: `"../victim/pwned": ".." in path`},
		{name: "dot-dot in the middle", entries: []hostile{reg("a/../../victim/pwned", "x")}, want: `".." in path`},
		{name: "dot-dot that stays inside", entries: []hostile{reg("a/../b", "x")}, want: `".." in path`},
		{name: "absolute path", entries: []hostile{reg("VICTIM/pwned", "x")}, want: `/victim/pwned": absolute path`},
		{name: "absolute symlink", entries: []hostile{{name: "l", typ: tar.TypeSymlink, linkname: "VICTIM"}}, want: `"l": symlink to "/`},
		{name: "relative symlink climbing out", entries: []hostile{{name: "a/l", typ: tar.TypeSymlink, linkname: "../../victim"}}, want: `"a/l": symlink to "../../victim" leaves`},
		{
			name: "absolute symlink then write through it",
			entries: []hostile{
				{name: "l", typ: tar.TypeSymlink, linkname: "VICTIM"},
				reg("l/pwned", "x"),
			},
			want: `"l": symlink`,
		},
		{
			name: "inside symlink then write through it",
			entries: []hostile{
				{name: "sub", typ: tar.TypeDir},
				{name: "l", typ: tar.TypeSymlink, linkname: "sub"},
				reg("l/pwned", "x"),
			},
			want: `"l/pwned": would be written through the symlink "l"`,
		},
		{
			name: "symlink chain that climbs out",
			entries: []hostile{
				{name: "a", typ: tar.TypeDir},
				{name: "a/b", typ: tar.TypeSymlink, linkname: ".."},
				{name: "s", typ: tar.TypeSymlink, linkname: "a/b/../victim"},
			},
			want: `"s": symlink to "a/b/../victim" does not resolve inside`,
		},
		{
			name: "symlink replaced by a folder then written through",
			entries: []hostile{
				{name: "d", typ: tar.TypeSymlink, linkname: "."},
				{name: "d", typ: tar.TypeDir},
			},
			want: `"d": a non-folder already exists`,
		},
		{
			name: "file replacing a symlink",
			entries: []hostile{
				{name: "l", typ: tar.TypeSymlink, linkname: "target"},
				reg("l", "x"),
			},
			want: `"l": something already exists`,
		},
		{name: "hard link outside", entries: []hostile{{name: "h", typ: tar.TypeLink, linkname: "../victim/file"}}, want: `"h": hard link target "../victim/file" is outside`},
		{name: "hard link absolute", entries: []hostile{{name: "h", typ: tar.TypeLink, linkname: "VICTIM/file"}}, want: `/victim/file" is outside`},
		{
			name:    "hard link to a later entry",
			entries: []hostile{{name: "h", typ: tar.TypeLink, linkname: "later"}, reg("later", "x")},
			want:    `"h": hard link to "later", which is not a regular file extracted earlier`,
		},
		{
			name:    "hard link to a folder",
			entries: []hostile{{name: "d", typ: tar.TypeDir}, {name: "h", typ: tar.TypeLink, linkname: "d"}},
			want:    `hard link to "d"`,
		},
		{
			name:    "hard link to a symlink",
			entries: []hostile{{name: "l", typ: tar.TypeSymlink, linkname: "x"}, {name: "h", typ: tar.TypeLink, linkname: "l"}},
			want:    `hard link to "l"`,
		},
		{name: "character device", entries: []hostile{{name: "null", typ: tar.TypeChar}}, want: `"null": device file`},
		{name: "block device", entries: []hostile{{name: "sda", typ: tar.TypeBlock}}, want: `"sda": device file`},
		{name: "named pipe", entries: []hostile{{name: "p", typ: tar.TypeFifo}}, want: `"p": named pipe`},
		{name: "file then the same file again", entries: []hostile{reg("f", "1"), reg("f", "2")}, want: `"f": something already exists`},
		{name: "file under a file", entries: []hostile{reg("f", "1"), reg("f/g", "2")}, want: `"f/g": "f" is not a folder`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			victim := filepath.Join(base, "victim")
			if err := os.Mkdir(victim, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(victim, "file"), "precious")
			// VICTIM stands for the absolute path of a folder beside dest.
			entries := slices.Clone(tc.entries)
			for i := range entries {
				entries[i].name = strings.ReplaceAll(entries[i].name, "VICTIM", victim)
				entries[i].linkname = strings.ReplaceAll(entries[i].linkname, "VICTIM", victim)
			}
			err := Extract(bytes.NewReader(makeArchive(t, entries)), filepath.Join(base, "dest"))
			t.Log(err)
			mustContain(t, err, tc.want)
			mustContain(t, err, "refusing entry")
			onlyDest(t, base, "victim")
			if b, err := os.ReadFile(filepath.Join(victim, "file")); err != nil || string(b) != "precious" {
				t.Errorf("file beside dest changed: %q, %v", b, err)
			}
		})
	}
}

func TestExtractAccepts(t *testing.T) {
	reg := func(name, content string, mode int64) hostile {
		return hostile{name: name, typ: tar.TypeReg, content: content, mode: mode}
	}
	cases := []struct {
		name    string
		entries []hostile
		want    map[string]string // snapshot of dest
	}{
		{
			name:    "parents created for entries that come without them",
			entries: []hostile{reg("a/b/c.txt", "c", 0o644)},
			want:    map[string]string{"a": "dir -rwxr-xr-x", "a/b": "dir -rwxr-xr-x", "a/b/c.txt": "file -rw-r--r-- 2e7d2c03a9507ae2"},
		},
		{
			name:    "dot-slash names and a root entry",
			entries: []hostile{{name: "./", typ: tar.TypeDir, mode: 0o755}, reg("./x", "", 0o600)},
			want:    map[string]string{"x": "file -rw------- e3b0c44298fc1c14"},
		},
		{
			name:    "setuid, setgid and sticky bits dropped",
			entries: []hostile{reg("suid", "", 0o4755), {name: "sticky", typ: tar.TypeDir, mode: 0o1777}, reg("sgid", "", 0o2700)},
			want:    map[string]string{"suid": "file -rwxr-xr-x e3b0c44298fc1c14", "sgid": "file -rwx------ e3b0c44298fc1c14", "sticky": "dir -rwxrwxrwx"},
		},
		{
			name:    "read-only folder still filled, its mode set last",
			entries: []hostile{{name: "ro", typ: tar.TypeDir, mode: 0o555}, reg("ro/f", "", 0o444)},
			want:    map[string]string{"ro": "dir -r-xr-xr-x", "ro/f": "file -r--r--r-- e3b0c44298fc1c14"},
		},
		{
			name:    "hard link to an earlier file",
			entries: []hostile{reg("orig", "c", 0o644), {name: "sub/h", typ: tar.TypeLink, linkname: "orig"}},
			want:    map[string]string{"orig": "file -rw-r--r-- 2e7d2c03a9507ae2", "sub": "dir -rwxr-xr-x", "sub/h": "file -rw-r--r-- 2e7d2c03a9507ae2"},
		},
		{
			name: "symlinks inside, dangling and to folders",
			entries: []hostile{
				{name: "d", typ: tar.TypeDir, mode: 0o755},
				{name: "d/up", typ: tar.TypeSymlink, linkname: "../d"},
				{name: "dangling", typ: tar.TypeSymlink, linkname: "nowhere/x"},
				{name: "chain", typ: tar.TypeSymlink, linkname: "d/up/up"},
			},
			want: map[string]string{"d": "dir -rwxr-xr-x", "d/up": "symlink -> ../d", "dangling": "symlink -> nowhere/x", "chain": "symlink -> d/up/up"},
		},
		{
			name:    "the same folder twice",
			entries: []hostile{{name: "d/", typ: tar.TypeDir, mode: 0o700}, {name: "d", typ: tar.TypeDir, mode: 0o750}},
			want:    map[string]string{"d": "dir -rwxr-x---"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "dest")
			if err := Extract(bytes.NewReader(makeArchive(t, tc.entries)), dest); err != nil {
				t.Fatal(err)
			}
			got := snapshot(t, dest)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: got %q, want %q", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("%s: unexpected %q", k, got[k])
				}
			}
		})
	}
}

func TestExtractSetsTimes(t *testing.T) {
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	var buf bytes.Buffer
	// Written by hand to carry a non-zero time, which makeArchive does not.
	tw := newGzipTar(&buf)
	for _, h := range []*tar.Header{
		{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	if err := Extract(&buf, dest); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"d", "d/f"} {
		fi, err := os.Stat(filepath.Join(dest, name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v (a folder's must survive its children being written)", name, fi.ModTime(), mtime)
		}
	}
}

func TestExtractLimits(t *testing.T) {
	entries := []hostile{
		{name: "a", typ: tar.TypeReg, content: strings.Repeat("a", 600)},
		{name: "b", typ: tar.TypeReg, content: strings.Repeat("b", 600)},
	}
	cases := []struct {
		name   string
		limits Limits
		want   string
	}{
		// Each 600-byte file takes a 4 KiB block and its name (1 + 16 bytes) in the folder.
		{name: "within", limits: Limits{MaxBytes: 2 * 4113, MaxEntries: 2, MaxPathBytes: 1}},
		{name: "unbounded", limits: Limits{}},
		{name: "too many bytes", limits: Limits{MaxBytes: 2*4113 - 1}, want: `expands beyond 8225 bytes, the limit (at entry "b")`},
		{name: "too many entries", limits: Limits{MaxEntries: 1}, want: "more than 1 entries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			err := ExtractLimited(bytes.NewReader(makeArchive(t, entries)), dest, tc.limits)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			mustContain(t, err, tc.want)
			if _, err := os.Stat(filepath.Join(dest, "b")); err == nil {
				t.Error("the entry past the limit was written")
			}
		})
	}
}

func TestExtractRefusesLongPaths(t *testing.T) {
	long := strings.Repeat("d/", 30) + "f" // 61 bytes
	for _, tc := range []struct {
		name  string
		entry hostile
	}{
		{"long name", hostile{name: long, typ: tar.TypeReg, content: "x"}},
		{"long symlink target", hostile{name: "l", typ: tar.TypeSymlink, linkname: long}},
		{"long hard link target", hostile{name: "h", typ: tar.TypeLink, linkname: long}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			err := ExtractLimited(bytes.NewReader(makeArchive(t, []hostile{tc.entry})), dest, Limits{MaxPathBytes: 60})
			mustContain(t, err, "longer than 60 bytes")
			if des, _ := os.ReadDir(dest); len(des) != 0 {
				t.Errorf("something was written for the refused entry: %v", des)
			}
		})
	}
	if err := ExtractLimited(bytes.NewReader(makeArchive(t, []hostile{{name: long, typ: tar.TypeReg}})), t.TempDir(), Limits{MaxPathBytes: 61}); err != nil {
		t.Errorf("a name at the limit was refused: %v", err)
	}
}

// DiskUsage bounds what the kubelet measures: a tree of many small files and folders, extracted,
// takes no more disk than the sum DiskUsage gives for its entries.
func TestDiskUsageBoundsTheExtractedTree(t *testing.T) {
	var entries []hostile
	var want int64
	add := func(h hostile) {
		entries = append(entries, h)
		want += DiskUsage(h.typ, int64(len(h.content)), h.name)
	}
	for i := range 50 {
		d := fmt.Sprintf("dir%02d", i)
		add(hostile{name: d, typ: tar.TypeDir, mode: 0o755})
		for j := range 20 {
			add(hostile{name: fmt.Sprintf("%s/file-with-a-longer-name-%02d", d, j), typ: tar.TypeReg, content: strings.Repeat("x", 100*j)})
		}
		add(hostile{name: d + "/link", typ: tar.TypeSymlink, linkname: "file-with-a-longer-name-01"})
	}
	dest := t.TempDir()
	if err := Extract(bytes.NewReader(makeArchive(t, entries)), dest); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("du", "-s", "--block-size=1", dest).Output()
	if err != nil {
		t.Skipf("du: %v", err)
	}
	var used int64
	if _, err := fmt.Sscan(string(out), &used); err != nil {
		t.Fatal(err)
	}
	// du counts dest itself, which is not an entry.
	if used-blockSize > want {
		t.Errorf("the extracted tree takes %d bytes on disk, more than the %d DiskUsage counts for its entries", used-blockSize, want)
	}
	t.Logf("du %d bytes, DiskUsage %d bytes", used, want)
}

func TestExtractCorruptInput(t *testing.T) {
	good := makeArchive(t, []hostile{{name: "f", typ: tar.TypeReg, content: strings.Repeat("x", 4096)}})
	truncated := good[:len(good)-12]
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-5] ^= 0xff // inside the CRC-32 of the gzip trailer
	cases := []struct {
		name  string
		input []byte
		want  string
	}{
		{name: "not gzip", input: []byte("plain text, not a bundle"), want: "not a gzipped tar"},
		{name: "empty", input: nil, want: "not a gzipped tar"},
		{name: "truncated", input: truncated, want: "corrupt"},
		{name: "bad checksum", input: badCRC, want: "corrupt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustContain(t, Extract(bytes.NewReader(tc.input), t.TempDir()), tc.want)
		})
	}
}

func TestExtractIntoFolderWithExistingFiles(t *testing.T) {
	dest := t.TempDir()
	writeFile(t, filepath.Join(dest, "keep"), "mine")
	err := Extract(bytes.NewReader(makeArchive(t, []hostile{{name: "keep", typ: tar.TypeReg, content: "theirs"}})), dest)
	mustContain(t, err, `"keep": something already exists`)
	if b, _ := os.ReadFile(filepath.Join(dest, "keep")); string(b) != "mine" {
		t.Fatalf("existing file replaced: %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dest, "keep")); err != nil || fi.Mode()&fs.ModeType != 0 {
		t.Fatalf("existing file changed: %v %v", fi, err)
	}
}

// A folder named again and again is remembered once: memory does not grow with duplicate
// entries, however long their names.
func TestExtractMemoryDoesNotGrowWithDuplicates(t *testing.T) {
	archive := dupArchive(5000, longDir(15, 250))(t) // 19 MB of names, under 200 KB compressed
	var peak uint64
	stop := samplePeakHeap(&peak)
	err := Extract(bytes.NewReader(archive), t.TempDir())
	stop()
	if err != nil {
		t.Fatal(err)
	}
	if peak > 16<<20 {
		t.Errorf("extracting 5,000 copies of one folder took a %d MiB heap; want it independent of the copies", peak>>20)
	}
	t.Logf("archive %d bytes, peak heap %.1f MiB", len(archive), float64(peak)/(1<<20))
}

// The deepest name the limits accept unpacks, and the file is where its name says.
func TestExtractDeepestAcceptedName(t *testing.T) {
	name := deepName(1999)
	if len(name) > DefaultLimits.MaxPathBytes {
		t.Fatalf("test name of %d bytes is over the limit", len(name))
	}
	dest := t.TempDir()
	if err := Extract(bytes.NewReader(makeArchive(t, []hostile{{name: name, typ: tar.TypeReg, content: "deep"}})), dest); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	if b, err := root.ReadFile(name); err != nil || string(b) != "deep" {
		t.Errorf("reading the deep file back: %q, %v", b, err)
	}
}

// A bundle's layers unpack into one tree, and each layer is as untrusted as the others: a path
// belongs to one layer (a later layer naming it again is refused, folders included), a later
// layer cannot write through or climb out by a link an earlier one made, and the limits count all
// layers together.
func TestExtractLayersRefusesHostileBundles(t *testing.T) {
	reg := func(name, content string) hostile { return hostile{name: name, typ: tar.TypeReg, content: content} }
	dir := func(name string) hostile { return hostile{name: name, typ: tar.TypeDir, mode: 0o755} }
	link := func(name, target string) hostile { return hostile{name: name, typ: tar.TypeSymlink, linkname: target} }
	cases := []struct {
		name   string
		layers [][]hostile
		limits Limits
		want   string
	}{
		{
			name:   "the same file in two layers",
			layers: [][]hostile{{reg("app.txt", "good")}, {reg("app.txt", "evil")}},
			want:   `refusing entry "app.txt": something already exists at that path (layer 2 of 2)`,
		},
		{
			name:   "the same folder in two layers",
			layers: [][]hostile{{dir("src"), reg("src/a", "1")}, {{name: "src", typ: tar.TypeDir, mode: 0o777}}},
			want:   `refusing entry "src": the folder was already made by layer 1; a path belongs to one layer of a bundle (layer 2 of 2)`,
		},
		{
			name:   "a folder an earlier layer implied",
			layers: [][]hostile{{reg("src/a", "1")}, {dir("src")}},
			want:   `refusing entry "src": the folder was already made by layer 1`,
		},
		{
			name:   "a symlink over a file of an earlier layer",
			layers: [][]hostile{{reg("Dockerfile", "FROM scratch")}, {link("Dockerfile", "elsewhere")}},
			want:   `refusing entry "Dockerfile": something already exists at that path (layer 2 of 2)`,
		},
		{
			name:   "writing through a link of an earlier layer",
			layers: [][]hostile{{dir("sub"), link("l", "sub")}, {reg("l/pwned", "x")}},
			want:   `refusing entry "l/pwned": would be written through the symlink "l" (layer 2 of 2)`,
		},
		{
			name:   "writing through an absolute link of an earlier layer",
			layers: [][]hostile{{dir("sub")}, {link("l", "VICTIM")}, {reg("l/pwned", "x")}},
			want:   `refusing entry "l": symlink to`,
		},
		{
			name:   "a link chain across layers that climbs out",
			layers: [][]hostile{{dir("a"), link("a/b", "..")}, {link("s", "a/b/../victim")}},
			want:   `refusing entry "s": symlink to "a/b/../victim" does not resolve inside`,
		},
		{
			name:   "entries over the limit across layers",
			layers: [][]hostile{{reg("a", "1"), reg("b", "2")}, {reg("c", "3"), reg("d", "4")}},
			limits: Limits{MaxEntries: 3},
			want:   "more than 3 entries, the limit; is the .dockerignore of the build context missing? (layer 2 of 2)",
		},
		{
			name:   "bytes over the limit across layers",
			layers: [][]hostile{{reg("a", strings.Repeat("x", 5000))}, {reg("b", strings.Repeat("y", 5000))}},
			limits: Limits{MaxBytes: 12 << 10},
			want:   `expands beyond 12288 bytes, the limit (at entry "b"); is the .dockerignore of the build context missing? (layer 2 of 2)`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			victim := filepath.Join(base, "victim")
			if err := os.Mkdir(victim, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(victim, "file"), "precious")
			readers := make([]io.Reader, len(tc.layers))
			for i, entries := range tc.layers {
				entries = slices.Clone(entries)
				for j := range entries {
					entries[j].linkname = strings.ReplaceAll(entries[j].linkname, "VICTIM", victim)
				}
				readers[i] = bytes.NewReader(makeArchive(t, entries))
			}
			limits := tc.limits
			if limits == (Limits{}) {
				limits = DefaultLimits
			}
			err := ExtractLayers(readers, filepath.Join(base, "dest"), limits)
			t.Log(err)
			mustContain(t, err, tc.want)
			onlyDest(t, base, "victim")
			if b, err := os.ReadFile(filepath.Join(victim, "file")); err != nil || string(b) != "precious" {
				t.Errorf("file beside dest changed: %q, %v", b, err)
			}
		})
	}
}

// What Pack's layers hold is accepted: a later layer fills a folder an earlier one made, and a
// folder named twice within one layer is still one folder.
func TestExtractLayersAccepts(t *testing.T) {
	reg := func(name, content string) hostile { return hostile{name: name, typ: tar.TypeReg, content: content} }
	layers := [][]hostile{
		{{name: "src", typ: tar.TypeDir, mode: 0o750}, reg("src/a.go", "a"), {name: "src", typ: tar.TypeDir, mode: 0o750}},
		{reg("src/b.go", "b"), {name: "src/pkg", typ: tar.TypeDir, mode: 0o755}, {name: "src/l", typ: tar.TypeSymlink, linkname: "a.go"}},
		{reg("src/pkg/c.go", "c"), reg("z.txt", "z")},
	}
	readers := make([]io.Reader, len(layers))
	for i, l := range layers {
		readers[i] = bytes.NewReader(makeArchive(t, l))
	}
	dest := filepath.Join(t.TempDir(), "dest")
	if err := ExtractLayers(readers, dest, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, dest)
	for name, want := range map[string]string{"src": "dir -rwxr-x---", "src/pkg": "dir -rwxr-xr-x", "src/l": "symlink -> a.go"} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
	for _, name := range []string{"src/a.go", "src/b.go", "src/pkg/c.go", "z.txt"} {
		if !strings.HasPrefix(got[name], "file ") {
			t.Errorf("%s: %q, want a file", name, got[name])
		}
	}
}
