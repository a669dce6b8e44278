package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtract feeds Extract arbitrary input. It must never panic and never write outside
// its destination. Input that is not gzip is compressed first, so that the fuzzer's
// mutations reach the tar parser and the path checks instead of dying at the gzip header.
func FuzzExtract(f *testing.F) {
	seeds := [][]hostile{
		{{name: "a/b/c", typ: tar.TypeReg, content: "x"}, {name: "a/l", typ: tar.TypeSymlink, linkname: "b/c"}},
		{{name: "../escape", typ: tar.TypeReg, content: "x"}},
		{{name: "l", typ: tar.TypeSymlink, linkname: "/absolute"}, {name: "l/x", typ: tar.TypeReg}},
		{{name: "d", typ: tar.TypeDir}, {name: "d/up", typ: tar.TypeSymlink, linkname: ".."}, {name: "s", typ: tar.TypeSymlink, linkname: "d/up/../x"}},
		{{name: "f", typ: tar.TypeReg, content: "x"}, {name: "h", typ: tar.TypeLink, linkname: "f"}, {name: "h2", typ: tar.TypeLink, linkname: "../f"}},
		{{name: "p", typ: tar.TypeFifo}, {name: "c", typ: tar.TypeChar}},
	}
	for _, s := range seeds {
		gz := makeArchive(f, s)
		f.Add(gz)
		// The same archive uncompressed, for the fuzzer to mutate the tar itself.
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			f.Fatal(err)
		}
		var raw bytes.Buffer
		if _, err := raw.ReadFrom(zr); err != nil {
			f.Fatal(err)
		}
		f.Add(raw.Bytes())
	}
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b})

	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(data)
			_ = zw.Close()
			data = buf.Bytes()
		}
		base := t.TempDir()
		if err := os.Mkdir(filepath.Join(base, "victim"), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = ExtractLimited(bytes.NewReader(data), filepath.Join(base, "dest"), Limits{MaxBytes: 1 << 20, MaxEntries: 1000})
		onlyDest(t, base, "victim")
	})
}

// FuzzExtractLayers feeds ExtractLayers two arbitrary layers, uncompressed tars (gzipped here),
// so that the fuzzer can combine what one layer makes with what the next writes through, over or
// beside it. It must never panic and never write outside its destination.
func FuzzExtractLayers(f *testing.F) {
	tarOf := func(entries []hostile) []byte {
		zr, err := gzip.NewReader(bytes.NewReader(makeArchive(f, entries)))
		if err != nil {
			f.Fatal(err)
		}
		var raw bytes.Buffer
		if _, err := raw.ReadFrom(zr); err != nil {
			f.Fatal(err)
		}
		return raw.Bytes()
	}
	seeds := [][2][]hostile{
		{{{name: "d", typ: tar.TypeDir}, {name: "d/l", typ: tar.TypeSymlink, linkname: ".."}}, {{name: "d/l/x", typ: tar.TypeReg, content: "x"}}},
		{{{name: "a", typ: tar.TypeDir}, {name: "a/up", typ: tar.TypeSymlink, linkname: ".."}}, {{name: "s", typ: tar.TypeSymlink, linkname: "a/up/../victim"}}},
		{{{name: "f", typ: tar.TypeReg, content: "1"}}, {{name: "f", typ: tar.TypeSymlink, linkname: "/etc"}}},
		{{{name: "f", typ: tar.TypeReg, content: "1"}}, {{name: "h", typ: tar.TypeLink, linkname: "f"}, {name: "d", typ: tar.TypeDir}}},
	}
	for _, s := range seeds {
		f.Add(tarOf(s[0]), tarOf(s[1]))
	}
	gz := func(data []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(data)
		_ = zw.Close()
		return buf.Bytes()
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		base := t.TempDir()
		if err := os.Mkdir(filepath.Join(base, "victim"), 0o755); err != nil {
			t.Fatal(err)
		}
		layers := []io.Reader{bytes.NewReader(gz(first)), bytes.NewReader(gz(second))}
		_ = ExtractLayers(layers, filepath.Join(base, "dest"), Limits{MaxBytes: 1 << 20, MaxEntries: 1000})
		onlyDest(t, base, "victim")
	})
}
