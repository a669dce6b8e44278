package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the modification time of every entry: a layer's digest must depend only on
// what the files contain, so that building the same inputs twice yields the same image.
var epoch = time.Unix(0, 0).UTC()

// entry is one file, directory or symlink of a layer.
type entry struct {
	mode fs.FileMode // permission bits plus fs.ModeDir or fs.ModeSymlink
	link string      // symlink target
	data []byte      // contents given in memory
	src  string      // or contents read from this host file when the layer is written
	size int64
}

// layerBuilder collects the entries of one layer, keyed by their cleaned path inside the
// image ("bin/sh"). Ownership is always root: images built here must not depend on who ran
// the build, and a numeric user for the process is set in the image config instead.
type layerBuilder struct {
	entries map[string]*entry
}

func newLayer() *layerBuilder {
	return &layerBuilder{entries: map[string]*entry{}}
}

// cleanName turns an in-image path ("/kaniko/executor", "./bin/sh") into the relative,
// slash-separated form used in layer tarballs, refusing paths that would leave the root.
func cleanName(p string) (string, error) {
	if strings.Contains(p, "\\") {
		return "", fmt.Errorf("path %q contains a backslash; use forward slashes", p)
	}
	c := path.Clean("/" + p)
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q contains \"..\"; give a path inside the image", p)
		}
	}
	if c == "/" {
		return "", fmt.Errorf("path %q names the image root; give a file or directory below it", p)
	}
	return strings.TrimPrefix(c, "/"), nil
}

// permBits keeps the bits a layer records for a file: permissions plus setuid, setgid and sticky.
func permBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

func (b *layerBuilder) put(name string, e *entry) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	b.entries[n] = e
	return nil
}

func (b *layerBuilder) addDir(name string, perm fs.FileMode) error {
	return b.put(name, &entry{mode: fs.ModeDir | permBits(perm)})
}

// addFile adds data at name as a world-readable (0644) file: every generated file (passwd,
// CA bundles, configuration) is meant to be read by whatever user the image runs as.
func (b *layerBuilder) addFile(name string, data []byte) error {
	return b.put(name, &entry{mode: 0o644, data: data, size: int64(len(data))})
}

// addHostFile adds the host file src at name as an executable (0755): it is always the
// program the image exists to run, whatever mode the host file has. Its contents are
// streamed when the layer is written, so large binaries (the Kaniko executor is ~56 MB) are
// never held in memory.
func (b *layerBuilder) addHostFile(name, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	return b.put(name, &entry{mode: 0o755, src: src, size: fi.Size()})
}

func (b *layerBuilder) addSymlink(name, target string) error {
	if target == "" {
		return fmt.Errorf("symlink %q has an empty target", name)
	}
	return b.put(name, &entry{mode: fs.ModeSymlink | 0o777, link: target})
}

// addTree adds everything below the host directory dir, keeping permission bits and
// symlink targets. Hard links become independent copies and device files are refused:
// neither belongs in the small images this tool makes.
func (b *layerBuilder) addTree(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("reading the root filesystem directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch m := info.Mode(); {
		case m.IsDir():
			return b.addDir(name, m)
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return b.addSymlink(name, target)
		case m.IsRegular():
			return b.put(name, &entry{mode: permBits(m), src: p, size: info.Size()})
		default:
			return fmt.Errorf("%s is a %s; only regular files, directories and symlinks can go into an image", p, m.Type())
		}
	})
}

// names returns every path of the layer, including parent directories nobody added
// explicitly, sorted so that a directory always precedes its contents.
func (b *layerBuilder) names() ([]string, error) {
	all := map[string]bool{}
	for n := range b.entries {
		all[n] = true
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			if e, ok := b.entries[d]; ok && !e.mode.IsDir() {
				return nil, fmt.Errorf("%q is needed as a directory for %q but was added as a file or symlink", d, n)
			}
			all[d] = true
		}
	}
	out := make([]string, 0, len(all))
	for n := range all {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// writeTar writes the layer as an uncompressed tar stream.
func (b *layerBuilder) writeTar(w io.Writer) error {
	names, err := b.names()
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, n := range names {
		e, ok := b.entries[n]
		if !ok {
			e = &entry{mode: fs.ModeDir | 0o755}
		}
		hdr := &tar.Header{Name: n, ModTime: epoch, Mode: int64(e.mode.Perm()), Format: tar.FormatPAX}
		if e.mode&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		if e.mode&fs.ModeSetgid != 0 {
			hdr.Mode |= 0o2000
		}
		if e.mode&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		switch {
		case e.mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, n+"/"
		case e.mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("writing %s: %w", n, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if e.src == "" {
			if _, err := tw.Write(e.data); err != nil {
				return fmt.Errorf("writing %s: %w", n, err)
			}
			continue
		}
		if err := copyFile(tw, e.src, e.size); err != nil {
			return fmt.Errorf("writing %s: %w", n, err)
		}
	}
	return tw.Close()
}

func copyFile(w io.Writer, src string, size int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	// Read-only: Close cannot lose data, and a short read is caught by the size check below.
	defer func() { _ = f.Close() }()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s changed while the image was being built (expected %d bytes, read %d)", src, size, n)
	}
	return nil
}

// layer turns the collected entries into a gzipped image layer. The tar stream is produced
// on demand, and the compressed bytes are cached because go-containerregistry reads them
// several times (digest, size, archive or upload).
func (b *layerBuilder) layer() (v1.Layer, error) {
	if _, err := b.names(); err != nil {
		return nil, err
	}
	opener := func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(b.writeTar(pw)) }()
		return pr, nil
	}
	return tarball.LayerFromOpener(opener, tarball.WithCompressedCaching)
}
