package bundle

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Limits bounds what [ExtractLimited] writes, so that a small hostile bundle (a "gzip bomb")
// can fill neither the node's disk nor the time of the build. Zero fields mean no bound.
type Limits struct {
	// MaxBytes bounds the disk space the extracted tree takes, as [DiskUsage] counts it.
	MaxBytes int64
	// MaxEntries bounds the number of entries.
	MaxEntries int
	// MaxPathBytes bounds the length of an entry's name and of a symlink's target.
	MaxPathBytes int
}

// DefaultLimits are the bounds used by [Extract] and [Fetch], and checked by [Pack] before a
// bundle leaves the CLI: far above any real build context, far below what would hurt a node. The
// build pod's workspace volume is given MaxBytes as its size limit.
var DefaultLimits = Limits{
	MaxBytes:   8 << 30,
	MaxEntries: 1 << 20,
	// The kernel's PATH_MAX (4096) with room for the workspace folder, under which Kaniko
	// opens every file by its full path.
	MaxPathBytes: 4000,
}

// blockSize is the file system allocation unit [DiskUsage] rounds to.
const blockSize = 4096

// DiskUsage is the disk space one archive entry may take once extracted: its content in whole
// 4 KiB blocks, a block for a folder or a symlink, and its name in its parent folder's list. It
// is what [Limits.MaxBytes] bounds, counted alike by [Pack] and [ExtractLimited], and an upper
// bound of what the kubelet measures against the workspace volume's size limit on common file
// systems.
func DiskUsage(typeflag byte, size int64, name string) int64 {
	usage := int64(len(path.Base(name))) + 16
	switch typeflag {
	case tar.TypeReg:
		usage += (size + blockSize - 1) / blockSize * blockSize
	case tar.TypeDir, tar.TypeSymlink:
		usage += blockSize
	}
	return usage
}

// Extract unpacks a gzipped tar (a bundle layer) into dest with [DefaultLimits].
// See [ExtractLimited].
func Extract(r io.Reader, dest string) error {
	return ExtractLimited(r, dest, DefaultLimits)
}

// ExtractLimited unpacks a gzipped tar into dest, which is created if missing and should be
// empty. It is [ExtractLayers] with one layer.
func ExtractLimited(r io.Reader, dest string, limits Limits) error {
	return ExtractLayers([]io.Reader{r}, dest, limits)
}

// ExtractLayers unpacks the layers of a bundle, gzipped tars, in order into dest, which is
// created if missing and should be empty. The archives are untrusted: nothing is ever written
// outside dest, and the first entry that tries is an error naming it. Refused are
//
//   - absolute names and names with a ".." component;
//   - symlinks whose target, read relative to the link's folder, leaves dest (checked by the
//     path when the link is made, and again by resolving every link against the finished tree,
//     which catches chains such as a/b -> .. plus c -> a/b/../x, even across layers);
//   - entries beneath a symlink: the archive may not write through a link it made, even one
//     that stays inside dest;
//   - hard links except to a regular file this bundle already extracted;
//   - devices, named pipes and other special files;
//   - an entry whose path already exists (except a folder named again in the same layer), so
//     that nothing is replaced by a later entry: a path belongs to one layer, and a later layer
//     naming it again, even as a folder, is refused;
//   - going past limits, which count all layers together.
//
// Files and folders keep their permission bits (never setuid, setgid or sticky) and their
// modification times; owners are not set. On error dest may hold part of the bundle.
// All writes go through an [os.Root] opened on dest, so even a flaw in the checks above
// cannot reach outside it.
//
// The work is linear in the size of the archives, and the memory in the number of distinct
// folders: each entry is reached from the folder of the entry before it, one path component at
// a time, and folders named again (duplicates) are remembered once.
func ExtractLayers(layers []io.Reader, dest string, limits Limits) error {
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
		tree:     &dirNode{},
		regulars: map[string]bool{},
	}
	defer x.cursor.close()
	for i, r := range layers {
		x.layer = i + 1
		if err := x.extractLayer(r); err != nil {
			if len(layers) > 1 {
				return fmt.Errorf("%w (layer %d of %d)", err, i+1, len(layers))
			}
			return err
		}
	}
	x.cursor.close()
	if err := x.checkSymlinks(); err != nil {
		return err
	}
	return x.finishDirs()
}

// extractLayer unpacks one gzipped tar.
func (x *extractor) extractLayer(r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("bundle: source bundle is not a gzipped tar: %w", err)
	}
	defer func() { _ = zr.Close() }()
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
	return nil
}

type extractor struct {
	root   *os.Root
	limits Limits
	// layer is the number (from 1) of the layer being extracted.
	layer int

	entries int
	bytes   int64
	// tree holds the folders known to be real folders (not links) inside dest, with the mode
	// and time of their archive entry: one node per folder however often the archive names it.
	tree *dirNode
	// cursor holds the folder of the last entry open, so that the next entry in or near it is
	// reached without walking its path again.
	cursor cursor
	// regulars are the regular files this archive extracted: the only hard link targets.
	regulars map[string]bool
	// symlinks are the links made, checked once the whole tree exists.
	symlinks []string
}

// dirNode is a folder of the extracted tree.
type dirNode struct {
	children map[string]*dirNode
	// meta is set when the archive has an entry for the folder; its mode and time are applied
	// last: a folder without write permission could not be filled, and filling one changes its
	// modification time.
	meta *dirMeta
	// layer is the layer that made the folder, named or implied by an entry beneath it.
	layer int
}

type dirMeta struct {
	mode  fs.FileMode
	mtime time.Time
}

func (n *dirNode) child(name string) *dirNode {
	if n.children == nil {
		return nil
	}
	return n.children[name]
}

func (n *dirNode) add(name string, layer int) *dirNode {
	if c := n.child(name); c != nil {
		return c
	}
	if n.children == nil {
		n.children = map[string]*dirNode{}
	}
	c := &dirNode{layer: layer}
	n.children[name] = c
	return c
}

// cursor is a chain of open folders from dest down to the folder of the last entry: comps[i]
// is the name of the folder roots[i] has open, inside roots[i-1] (or dest).
type cursor struct {
	comps []string
	roots []*os.Root
	nodes []*dirNode
}

func (c *cursor) close() {
	for _, r := range c.roots {
		_ = r.Close()
	}
	c.comps, c.roots, c.nodes = c.comps[:0], c.roots[:0], c.nodes[:0]
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
	for part := range strings.SplitSeq(name, "/") {
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
	if max := x.limits.MaxPathBytes; max > 0 && (len(hdr.Name) > max || len(hdr.Linkname) > max) {
		return entryError(clip(hdr.Name, 100), "name or link target longer than %d bytes, the longest path a build can open", max)
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
	if x.limits.MaxBytes > 0 {
		usage := DiskUsage(hdr.Typeflag, hdr.Size, name)
		if usage > x.limits.MaxBytes-x.bytes {
			return fmt.Errorf("bundle: source bundle expands beyond %d bytes, the limit (at entry %q); is the .dockerignore of the build context missing?", x.limits.MaxBytes, clip(hdr.Name, 200))
		}
		x.bytes += usage
	}
	comps := strings.Split(name, "/")
	parent, node, err := x.enter(hdr.Name, comps[:len(comps)-1])
	if err != nil {
		return err
	}
	base := comps[len(comps)-1]
	perm := fs.FileMode(hdr.Mode) & fs.ModePerm

	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(hdr, parent, node, base, perm)
	case tar.TypeReg:
		return x.regular(hdr, parent, name, base, perm, tr)
	case tar.TypeSymlink:
		return x.symlink(hdr, parent, name, base)
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

// enter moves the cursor to the folder dir (its path components), making sure every folder on
// the way is a real folder inside dest: missing ones are created, and going through a symlink or
// a file is refused. It returns the open folder and its node. Only the components that differ
// from the cursor's folder are visited, a few system calls each, so a path costs no more than its
// length, however deep it is. (Each open folder remembers its path for error messages, which
// costs memory quadratic in the depth: bounded by Limits.MaxPathBytes to a few MB.)
func (x *extractor) enter(raw string, dir []string) (*os.Root, *dirNode, error) {
	c := &x.cursor
	common := 0
	for common < len(c.comps) && common < len(dir) && c.comps[common] == dir[common] {
		common++
	}
	for i := common; i < len(c.roots); i++ {
		_ = c.roots[i].Close()
	}
	c.comps, c.roots, c.nodes = c.comps[:common], c.roots[:common], c.nodes[:common]
	cur, node := x.root, x.tree
	if common > 0 {
		cur, node = c.roots[common-1], c.nodes[common-1]
	}
	for i := common; i < len(dir); i++ {
		comp := dir[i]
		child := node.child(comp)
		if child == nil {
			if err := x.mkdir(raw, cur, comp, dir[:i+1]); err != nil {
				return nil, nil, err
			}
			child = node.add(comp, x.layer)
		}
		next, err := cur.OpenRoot(comp)
		if err != nil {
			return nil, nil, fmt.Errorf("bundle: entry %q: opening folder %q: %w", raw, strings.Join(dir[:i+1], "/"), err)
		}
		c.comps, c.roots, c.nodes = append(c.comps, comp), append(c.roots, next), append(c.nodes, child)
		cur, node = next, child
	}
	return cur, node, nil
}

// mkdir makes sure comp is a real folder in parent, creating it if missing.
func (x *extractor) mkdir(raw string, parent *os.Root, comp string, full []string) error {
	fi, err := parent.Lstat(comp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := parent.Mkdir(comp, 0o755); err != nil {
			return fmt.Errorf("bundle: entry %q: creating folder %q: %w", raw, strings.Join(full, "/"), err)
		}
	case err != nil:
		return fmt.Errorf("bundle: entry %q: checking folder %q: %w", raw, strings.Join(full, "/"), err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return entryError(raw, "would be written through the symlink %q", strings.Join(full, "/"))
	case !fi.IsDir():
		return entryError(raw, "%q is not a folder", strings.Join(full, "/"))
	}
	return nil
}

func (x *extractor) dir(hdr *tar.Header, parent *os.Root, node *dirNode, base string, perm fs.FileMode) error {
	child := node.child(base)
	if child == nil {
		err := parent.Mkdir(base, 0o755)
		if errors.Is(err, fs.ErrExist) {
			fi, lerr := parent.Lstat(base)
			if lerr != nil || !fi.IsDir() {
				return entryError(hdr.Name, "a non-folder already exists at that path")
			}
		} else if err != nil {
			return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
		}
		child = node.add(base, x.layer)
	} else if child.layer != x.layer {
		return entryError(hdr.Name, "the folder was already made by layer %d; a path belongs to one layer of a bundle", child.layer)
	}
	// A folder named again keeps one record, the last one's mode and time.
	child.meta = &dirMeta{mode: perm, mtime: hdr.ModTime}
	return nil
}

func (x *extractor) regular(hdr *tar.Header, parent *os.Root, name, base string, perm fs.FileMode, r io.Reader) error {
	f, err := parent.OpenFile(base, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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
	if err := parent.Chtimes(base, hdr.ModTime, hdr.ModTime); err != nil {
		return fmt.Errorf("bundle: entry %q: %w", hdr.Name, err)
	}
	x.regulars[name] = true
	return nil
}

func (x *extractor) symlink(hdr *tar.Header, parent *os.Root, name, base string) error {
	if symlinkEscapes(name, hdr.Linkname) {
		return entryError(hdr.Name, "symlink to %q leaves the destination folder", hdr.Linkname)
	}
	if err := parent.Symlink(hdr.Linkname, base); err != nil {
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

// finishDirs applies the folders' modes and times, children before their parents, so that
// restricting a folder never blocks setting what is inside it.
func (x *extractor) finishDirs() error {
	return x.finishDir(x.tree, nil)
}

// finishDir visits n, whose path is name. The path grows and shrinks in one buffer, so that a deep
// tree costs no copy of every ancestor's path.
func (x *extractor) finishDir(n *dirNode, name []byte) error {
	for _, comp := range slices.Sorted(maps.Keys(n.children)) {
		sub := name
		if len(sub) > 0 {
			sub = append(sub, '/')
		}
		if err := x.finishDir(n.children[comp], append(sub, comp...)); err != nil {
			return err
		}
	}
	if n.meta == nil || len(name) == 0 {
		return nil
	}
	p := string(name)
	if err := x.root.Chmod(p, n.meta.mode); err != nil {
		return fmt.Errorf("bundle: entry %q: %w", p, err)
	}
	if err := x.root.Chtimes(p, n.meta.mtime, n.meta.mtime); err != nil {
		return fmt.Errorf("bundle: entry %q: %w", p, err)
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
