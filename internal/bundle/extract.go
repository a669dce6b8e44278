package bundle

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Limits bounds what [ExtractLimited] writes, so that a small hostile bundle (a "gzip bomb")
// cannot fill the node's disk. Zero fields mean no bound.
type Limits struct {
	// MaxBytes bounds the total size of the regular files written.
	MaxBytes int64
	// MaxEntries bounds the number of entries.
	MaxEntries int
}

// DefaultLimits are the bounds used by [Extract] and [Fetch]: far above any real build
// context, far below what would hurt a node.
var DefaultLimits = Limits{MaxBytes: 8 << 30, MaxEntries: 1 << 20}

// Extract unpacks a gzipped tar (a bundle layer) into dest with [DefaultLimits].
// See [ExtractLimited].
func Extract(r io.Reader, dest string) error {
	return ExtractLimited(r, dest, DefaultLimits)
}

// ExtractLimited unpacks a gzipped tar into dest, which is created if missing and should be
// empty. The archive is untrusted: nothing is ever written outside dest, and the first entry
// that tries is an error naming it. Refused are
//
//   - absolute names and names with a ".." component;
//   - symlinks whose target, read relative to the link's folder, leaves dest (checked by the
//     path when the link is made, and again by resolving every link against the finished tree,
//     which catches chains such as a/b -> .. plus c -> a/b/../x);
//   - entries beneath a symlink: the archive may not write through a link it made, even one
//     that stays inside dest;
//   - hard links except to a regular file this archive already extracted;
//   - devices, named pipes and other special files;
//   - an entry whose path already exists (except a folder over a folder), so that nothing
//     is replaced by a later entry;
//   - going past limits.
//
// Files and folders keep their permission bits (never setuid, setgid or sticky) and their
// modification times; owners are not set. On error dest may hold part of the archive.
// All writes go through an [os.Root] opened on dest, so even a flaw in the checks above
// cannot reach outside it.
func ExtractLimited(r io.Reader, dest string, limits Limits) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("bundle: source bundle is not a gzipped tar: %w", err)
	}
	defer func() { _ = zr.Close() }()
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("bundle: creating %s: %w", dest, err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("bundle: opening %s: %w", dest, err)
	}
	defer func() { _ = root.Close() }()

	x := &extractor{
		root:     root,
		limits:   limits,
		dirs:     map[string]bool{".": true},
		regulars: map[string]bool{},
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("bundle: source bundle is corrupt after %d entries: %w", x.entries, err)
		}
		if err := x.extract(hdr, tr); err != nil {
			return err
		}
	}
	// Read the gzip stream to its end so that its checksum is verified, and so that a caller
	// verifying the compressed digest sees every byte.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return fmt.Errorf("bundle: source bundle is corrupt: %w", err)
	}
	if err := x.checkSymlinks(); err != nil {
		return err
	}
	return x.finishDirs()
}

type extractor struct {
	root   *os.Root
	limits Limits

	entries int
	bytes   int64
	// dirs are the folders known to be real folders (not links) inside dest.
	dirs map[string]bool
	// regulars are the regular files this archive extracted: the only hard link targets.
	regulars map[string]bool
	// symlinks are the links made, checked once the whole tree exists.
	symlinks []string
	// dirMeta are the modes and times of folder entries, applied last: a folder without write
	// permission could not be filled, and filling one changes its modification time.
	dirMeta []dirMeta
}

type dirMeta struct {
	name  string
	mode  fs.FileMode
	mtime time.Time
}

func entryError(name, format string, args ...any) error {
	return fmt.Errorf("bundle: refusing entry %q: %s", name, fmt.Sprintf(format, args...))
}

// cleanName turns a tar name into a slash path relative to dest, refusing names that could
// leave it. "." means dest itself.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", entryError(name, "empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", entryError(name, "absolute path")
	}
	if strings.ContainsRune(name, 0) {
		return "", entryError(name, "NUL byte in name")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", entryError(name, `".." in path (path traversal)`)
		}
	}
	return path.Clean(name), nil
}

func (x *extractor) extract(hdr *tar.Header, tr io.Reader) error {
	x.entries++
	if x.limits.MaxEntries > 0 && x.entries > x.limits.MaxEntries {
		return fmt.Errorf("bundle: source bundle has more than %d entries, the limit; is the .dockerignore of the build context missing?", x.limits.MaxEntries)
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX global headers carry metadata only
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return entryError(hdr.Name, "names the destination folder itself but is not a folder")
		}
		return nil
	}
	if err := x.parents(hdr.Name, name); err != nil {
		return err
	}
	perm := fs.FileMode(hdr.Mode) & fs.ModePerm

	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(hdr, name, perm)
	case tar.TypeReg:
		return x.regular(hdr, name, perm, tr)
	case tar.TypeSymlink:
		return x.symlink(hdr, name)
	case tar.TypeLink:
		return x.hardlink(hdr, name)
	case tar.TypeChar, tar.TypeBlock:
		return entryError(hdr.Name, "device file")
	case tar.TypeFifo:
		return entryError(hdr.Name, "named pipe")
	default:
		return entryError(hdr.Name, "unsupported entry type %q", hdr.Typeflag)
	}
}

// parents makes sure every ancestor of name is a real folder inside dest, creating missing
// ones, and refuses to go through a symlink or a file.
func (x *extractor) parents(raw, name string) error {
	var ancestors []string
	for d := path.Dir(name); !x.dirs[d]; d = path.Dir(d) {
		ancestors = append(ancestors, d)
	}
	for _, d := range slices.Backward(ancestors) {
		fi, err := x.root.Lstat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := x.root.Mkdir(d, 0o755); err != nil {
				return fmt.Errorf("bundle: entry %q: creating folder %q: %w", raw, d, err)
			}
		case err != nil:
			return fmt.Errorf("bundle: entry %q: checking folder %q: %w", raw, d, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return entryError(raw, "would be written through the symlink %q", d)
		case !fi.IsDir():
			return entryError(raw, "%q is not a folder", d)
		}
		x.dirs[d] = true
	}
	return nil
}

func (x *extractor) dir(hdr *tar.Header, name string, perm fs.FileMode) error {
	if !x.dirs[name] {
		err := x.root.Mkdir(name, 0o755)
		if errors.Is(err, fs.ErrExist) {
			fi, lerr := x.root.Lstat(name)
			if lerr != nil || !fi.IsDir() {
				return entryError(hdr.Name, "a non-folder already exists at that path")
			}
		} else if err != nil {
			return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
		}
		x.dirs[name] = true
	}
	x.dirMeta = append(x.dirMeta, dirMeta{name: name, mode: perm, mtime: hdr.ModTime})
	return nil
}

func (x *extractor) regular(hdr *tar.Header, name string, perm fs.FileMode, r io.Reader) error {
	if x.limits.MaxBytes > 0 && hdr.Size > x.limits.MaxBytes-x.bytes {
		return fmt.Errorf("bundle: source bundle expands beyond %d bytes, the limit (at entry %q); is the .dockerignore of the build context missing?", x.limits.MaxBytes, hdr.Name)
	}
	x.bytes += hdr.Size
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return entryError(hdr.Name, "something already exists at that path")
	}
	if err != nil {
		return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		// Set the mode on the open file: the creation mode is filtered by the umask.
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
	}
	if err := x.root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
		return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
	}
	x.regulars[name] = true
	return nil
}

func (x *extractor) symlink(hdr *tar.Header, name string) error {
	if symlinkEscapes(name, hdr.Linkname) {
		return entryError(hdr.Name, "symlink to %q leaves the destination folder", hdr.Linkname)
	}
	if err := x.root.Symlink(hdr.Linkname, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return entryError(hdr.Name, "something already exists at that path")
		}
		return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
	}
	x.symlinks = append(x.symlinks, name)
	return nil
}

func (x *extractor) hardlink(hdr *tar.Header, name string) error {
	if hdr.Linkname == "" {
		return entryError(hdr.Name, "hard link without a target")
	}
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return entryError(hdr.Name, "hard link target %q is outside the destination folder", hdr.Linkname)
	}
	if !x.regulars[target] {
		return entryError(hdr.Name, "hard link to %q, which is not a regular file extracted earlier from this bundle", hdr.Linkname)
	}
	if err := x.root.Link(target, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return entryError(hdr.Name, "something already exists at that path")
		}
		return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
	}
	return nil
}

// checkSymlinks resolves every extracted link inside dest. The per-entry check judges a
// target by its text, but a target that goes through other links ("a/b/../x" where a/b is a
// link to "..") can still climb out; os.Root refuses to resolve such a path, and so does this.
// A link that resolves to nothing (dangling) is harmless and kept.
func (x *extractor) checkSymlinks() error {
	for _, name := range x.symlinks {
		if err := resolvesInside(x.root, name); err != nil {
			target, _ := x.root.Readlink(name)
			_ = x.root.Remove(name)
			return entryError(name, "symlink to %q does not resolve inside the destination folder: %v", target, err)
		}
	}
	return nil
}

// resolvesInside returns an error when following the symlink name leaves root, or cannot be
// followed to the end for a reason other than a missing file (a loop, for one).
func resolvesInside(root *os.Root, name string) error {
	_, err := root.Stat(name)
	if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	return err
}

func (x *extractor) finishDirs() error {
	// Deepest first, so that restricting a folder never blocks setting its children.
	slices.SortStableFunc(x.dirMeta, func(a, b dirMeta) int {
		return strings.Count(b.name, "/") - strings.Count(a.name, "/")
	})
	for _, d := range x.dirMeta {
		if err := x.root.Chmod(d.name, d.mode); err != nil {
			return fmt.Errorf("bundle: entry %q: %w", d.name, err)
		}
		if err := x.root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("bundle: entry %q: %w", d.name, err)
		}
	}
	return nil
}
