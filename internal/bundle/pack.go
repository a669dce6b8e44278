package bundle

import (
	"archive/tar"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// ExternalDockerfilePath is where a Dockerfile that lives outside the build context is placed
// inside the bundle. Kaniko only sees the extracted context, so such a Dockerfile has to
// travel with it; the caller passes this path as Kaniko's --dockerfile.
const ExternalDockerfilePath = ".flow/Dockerfile"

// CompressionLevel is the gzip level of every bundle. It is fixed because the bundle digest
// depends on the compressed bytes: a different level would give the same files a new digest
// and defeat the "unchanged context uploads nothing" rule. Level 5 of klauspost/compress
// compresses about as well as gzip -6 at several times its speed (see BenchmarkPack).
const CompressionLevel = 5

// epoch is the modification time written for every entry, so that a checkout, a touch or a
// copy of the context does not change the digest.
var epoch = time.Unix(0, 0)

// PackOptions says what to pack.
type PackOptions struct {
	// ContextDir is the build context folder. Its .dockerignore, if any, filters what is packed.
	ContextDir string
	// Dockerfile is the absolute path of the Dockerfile. Inside ContextDir it is packed at its
	// own path even when .dockerignore excludes it (as Docker does); outside ContextDir it is
	// packed as ExternalDockerfilePath.
	Dockerfile string
	// Limits are the cluster side's: a context beyond them is refused before anything is packed
	// or sent. The zero value means DefaultLimits.
	Limits Limits
	// IndexDir is the folder of the local index [Build] keeps of this machine's contexts, so
	// that an unchanged context is recognised without packing it; empty means no index. It
	// holds one small file per context folder and should be the user's cache folder (see
	// [DefaultIndexDir]), never part of a context.
	IndexDir string
}

// PackStats describes a packed context.
type PackStats struct {
	// Files counts the regular files and symlinks in the archive (directories are not counted).
	Files int
	// Bytes is the total size of the regular files' contents, before compression.
	Bytes int64
	// DockerfilePath is the Dockerfile's slash-separated path inside the archive, to be passed
	// to Kaniko as --dockerfile: its path relative to the context, or ExternalDockerfilePath.
	DockerfilePath string
	// Layers is the number of layers of the bundle ([Build] only).
	Layers int
	// PackedLayers is how many of them were packed to learn their digests; the others were
	// found unchanged in the local index ([Build] only).
	PackedLayers int
}

// Pack writes the build context described by opts to w as a reproducible gzipped tar. A bundle
// ([Build]) holds the same entries in the same order, split into several such tars.
//
// The same files always give the same bytes: entries come depth-first in byte order of their
// names, every entry has modification time 0, owner 0:0 and no user or group names, only the
// permission bits and the type (directory, regular file, symlink) of each file are kept, PAX
// records appear only for names a USTAR header cannot hold (and then only the path), the gzip
// header carries no name or time and the compression level is fixed. Symlinks are stored as links with their target
// unchanged; a symlink that points outside the context is an error, because the cluster side
// refuses it ([Extract]). Hard links are stored as separate regular files, since whether two
// names share an inode is not something a copy of the context preserves. Sockets, devices
// and named pipes are skipped.
//
// .dockerignore in the context root is applied with Docker's rules (github.com/moby/patternmatcher),
// walking the tree the way BuildKit does: a directory that is excluded is still entered when a
// "!" exception may re-include something beneath it, and then it is sent as the parent of what
// is re-included. The Dockerfile and .dockerignore itself are always sent.
func Pack(opts PackOptions, w io.Writer) (PackStats, error) {
	plan, err := planContext(opts)
	if err != nil {
		return PackStats{}, err
	}
	return plan.write(w, nil)
}

// contextPlan is the list of entries to archive, gathered before anything is written so that
// every input error is reported before a byte of output exists.
type contextPlan struct {
	entries        []entry
	dockerfilePath string
	// root is the context folder, symlinks resolved: what the local index is kept for.
	root string
}

// entry is one file of the archive.
type entry struct {
	name string      // slash path inside the archive
	src  string      // file to read the content from (regular files only)
	data []byte      // content when it does not come from src (the external Dockerfile)
	mode fs.FileMode // type and permission bits
	size int64
	link string // symlink target
	// id identifies src's content without reading it, for the local index; hasID is false
	// where the system does not tell.
	id    fileID
	hasID bool
}

// fileID is what the local index trusts to say that a file still has the content it had: the
// same inode on the same device, with the same size (in [entry]), modification time and inode
// change time. A program can restore a file's modification time after writing it, but not its
// change time, which every write, chmod or rename sets to the present.
type fileID struct {
	dev, ino     uint64
	mtime, ctime int64 // nanoseconds since the Unix epoch
}

func planContext(opts PackOptions) (*contextPlan, error) {
	if opts.ContextDir == "" {
		return nil, errors.New("bundle: no build context folder given")
	}
	if opts.Dockerfile == "" {
		return nil, errors.New("bundle: no Dockerfile given")
	}
	ctxAbs, err := filepath.Abs(opts.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("bundle: build context %q: %w", opts.ContextDir, err)
	}
	// The context may be reached through a symlink (Docker follows it too); resolve it so
	// that the Dockerfile containment check below compares real paths.
	root, err := filepath.EvalSymlinks(ctxAbs)
	if err != nil {
		return nil, fmt.Errorf("bundle: build context %q does not exist or cannot be read: %w", opts.ContextDir, err)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("bundle: build context %q: %w", opts.ContextDir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("bundle: build context %q is not a folder; set the service's context to the folder that holds the files the Dockerfile copies", opts.ContextDir)
	}

	dfRel, dfData, dfMode, err := locateDockerfile(root, opts.Dockerfile)
	if err != nil {
		return nil, err
	}

	w := &walker{root: root, forced: map[string]bool{}, forcedDirs: map[string]bool{}}
	if err := w.loadDockerignore(); err != nil {
		return nil, err
	}
	w.force(".dockerignore")
	if dfData == nil {
		w.force(dfRel)
	}
	if err := w.walkDir("", patternmatcher.MatchInfo{}); err != nil {
		return nil, err
	}

	if err := checkSymlinkChains(root, w.entries); err != nil {
		return nil, err
	}

	plan := &contextPlan{entries: w.entries, dockerfilePath: dfRel, root: root}
	if dfData != nil {
		if err := plan.addExternalDockerfile(dfData, dfMode); err != nil {
			return nil, err
		}
	}
	limits := opts.Limits
	if limits == (Limits{}) {
		limits = DefaultLimits
	}
	if err := plan.checkLimits(limits); err != nil {
		return nil, err
	}
	return plan, nil
}

// checkLimits refuses a context the build pod would refuse to unpack, saying which limit it
// passes and where the bulk of it lies, so that the user knows what to put in .dockerignore.
func (p *contextPlan) checkLimits(l Limits) error {
	const fix = "exclude what the build does not need in the context's .dockerignore"
	var usage int64
	for _, e := range p.entries {
		if l.MaxPathBytes > 0 && (len(e.name) > l.MaxPathBytes || len(e.link) > l.MaxPathBytes) {
			return fmt.Errorf("bundle: the path %q (or its symlink target) is longer than %d bytes, the longest a build can open; shorten it, or %s",
				clip(e.name, 120), l.MaxPathBytes, fix)
		}
		usage += DiskUsage(e.typeflag(), e.size, e.name)
	}
	// Every entry is a file or folder of the archive; PAX records never count (Pack writes no
	// global header).
	if n := len(p.entries); l.MaxEntries > 0 && n > l.MaxEntries {
		return fmt.Errorf("bundle: the build context has %d files and folders, more than the %d a build pod unpacks; %s (the most: %s)",
			n, l.MaxEntries, fix, p.largest(func(entry) int64 { return 1 }, func(v int64) string { return fmt.Sprintf("%d", v) }))
	}
	if l.MaxBytes > 0 && usage > l.MaxBytes {
		have, limit := HumanBytes(usage), HumanBytes(l.MaxBytes)
		if have == limit {
			have, limit = fmt.Sprintf("%d bytes", usage), fmt.Sprintf("%d bytes", l.MaxBytes)
		}
		return fmt.Errorf("bundle: the build context takes %s unpacked, more than the %s a build pod unpacks; %s (the largest: %s)",
			have, limit, fix, p.largest(func(e entry) int64 { return DiskUsage(e.typeflag(), e.size, e.name) }, HumanBytes))
	}
	return nil
}

// largest names the three top-level files or folders of the context with the most weight.
func (p *contextPlan) largest(weight func(entry) int64, format func(int64) string) string {
	totals := map[string]int64{}
	for _, e := range p.entries {
		top, _, _ := strings.Cut(e.name, "/")
		totals[top] += weight(e)
	}
	tops := slices.Collect(maps.Keys(totals))
	slices.SortFunc(tops, func(a, b string) int {
		if c := cmp.Compare(totals[b], totals[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var out []string
	for _, t := range tops[:min(3, len(tops))] {
		out = append(out, t+" "+format(totals[t]))
	}
	return strings.Join(out, ", ")
}

// typeflag is the tar type the entry is written as.
func (e entry) typeflag() byte {
	switch {
	case e.mode.IsDir():
		return tar.TypeDir
	case e.mode&fs.ModeSymlink != 0:
		return tar.TypeSymlink
	}
	return tar.TypeReg
}

// HumanBytes prints a size in binary units, as a person reads it.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// locateDockerfile returns the Dockerfile's path inside the archive and, when it lives
// outside the context, its content and mode (nil data means it is inside).
func locateDockerfile(root, dockerfile string) (string, []byte, fs.FileMode, error) {
	dfAbs, err := filepath.Abs(dockerfile)
	if err != nil {
		return "", nil, 0, fmt.Errorf("bundle: Dockerfile %q: %w", dockerfile, err)
	}
	fi, err := os.Stat(dfAbs)
	if err != nil {
		return "", nil, 0, fmt.Errorf("bundle: Dockerfile %q does not exist or cannot be read: %w", dockerfile, err)
	}
	if !fi.Mode().IsRegular() {
		return "", nil, 0, fmt.Errorf("bundle: Dockerfile %q is not a regular file", dockerfile)
	}
	// Resolve the folder but not the file itself: a Dockerfile that is a symlink inside the
	// context is still at its own path there.
	dir, err := filepath.EvalSymlinks(filepath.Dir(dfAbs))
	if err != nil {
		return "", nil, 0, fmt.Errorf("bundle: Dockerfile %q: %w", dockerfile, err)
	}
	rel, err := filepath.Rel(root, filepath.Join(dir, filepath.Base(dfAbs)))
	if err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel), nil, 0, nil
	}
	data, err := os.ReadFile(dfAbs)
	if err != nil {
		return "", nil, 0, fmt.Errorf("bundle: Dockerfile %q cannot be read: %w", dockerfile, err)
	}
	return ExternalDockerfilePath, data, fi.Mode().Perm(), nil
}

// addExternalDockerfile places a Dockerfile from outside the context at ExternalDockerfilePath.
func (p *contextPlan) addExternalDockerfile(data []byte, mode fs.FileMode) error {
	dir := path.Dir(ExternalDockerfilePath)
	haveDir := false
	for _, e := range p.entries {
		switch e.name {
		case ExternalDockerfilePath:
			return fmt.Errorf("bundle: the Dockerfile is outside the build context, so it must travel as %s, but the context already has a file there; rename or .dockerignore the context's %s", ExternalDockerfilePath, ExternalDockerfilePath)
		case dir:
			if !e.mode.IsDir() {
				return fmt.Errorf("bundle: the Dockerfile is outside the build context, so it must travel as %s, but the context's %s is not a folder; rename or .dockerignore it", ExternalDockerfilePath, dir)
			}
			haveDir = true
		}
	}
	if !haveDir {
		p.entries = append(p.entries, entry{name: dir, mode: fs.ModeDir | 0o755})
	}
	p.entries = append(p.entries, entry{name: ExternalDockerfilePath, data: data, mode: mode, size: int64(len(data))})
	slices.SortStableFunc(p.entries, func(a, b entry) int { return comparePaths(a.name, b.name) })
	return nil
}

// comparePaths orders slash paths depth-first with names in byte order, the order in which
// walkDir visits them: a folder comes right before its contents, and "a/z" before "a.txt".
func comparePaths(a, b string) int {
	for {
		ha, ta, _ := strings.Cut(a, "/")
		hb, tb, _ := strings.Cut(b, "/")
		if c := strings.Compare(ha, hb); c != 0 {
			return c
		}
		if ta == "" || tb == "" {
			return strings.Compare(ta, tb)
		}
		a, b = ta, tb
	}
}

// write streams the planned entries to w as gzipped tar. The uncompressed tar stream is also
// copied to tap when it is not nil, so that a layer's DiffID is computed in the same pass.
func (p *contextPlan) write(w, tap io.Writer) (PackStats, error) {
	zw, err := gzip.NewWriterLevel(w, CompressionLevel)
	if err != nil {
		return PackStats{DockerfilePath: p.dockerfilePath}, err
	}
	// An explicit epoch: klauspost/compress writes the zero time.Time as a non-zero value,
	// while readers take 0 to mean "no time".
	zw.ModTime = epoch
	var tarOut io.Writer = zw
	if tap != nil {
		tarOut = io.MultiWriter(zw, tap)
	}
	stats, err := p.writeTar(tarOut)
	if err != nil {
		return stats, err
	}
	if err := zw.Close(); err != nil {
		return stats, fmt.Errorf("bundle: finishing the archive: %w", err)
	}
	return stats, nil
}

// writeTar streams the planned entries to w as an uncompressed tar.
func (p *contextPlan) writeTar(w io.Writer) (PackStats, error) {
	stats := PackStats{DockerfilePath: p.dockerfilePath}
	tw := tar.NewWriter(w)
	buf := make([]byte, 256<<10)
	for _, e := range p.entries {
		hdr := &tar.Header{
			Name:    e.name,
			Mode:    int64(e.mode.Perm()),
			ModTime: epoch,
		}
		switch {
		case e.mode.IsDir():
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case e.mode&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = e.link
			// A link's own mode means nothing on Linux and differs on macOS; fix it so
			// that the same checkout gives the same digest on either.
			hdr.Mode = 0o777
			stats.Files++
		default:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = e.size
			stats.Files++
			stats.Bytes += e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return stats, fmt.Errorf("bundle: writing %q: %w", e.name, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := copyContent(tw, e, buf); err != nil {
			return stats, err
		}
	}
	if err := tw.Close(); err != nil {
		return stats, fmt.Errorf("bundle: finishing the archive: %w", err)
	}
	return stats, nil
}

// copyContent writes exactly e.size bytes of e's content. A file that changed size since it
// was planned is an error rather than a silently cut or padded entry.
func copyContent(w io.Writer, e entry, buf []byte) error {
	if e.data != nil {
		_, err := io.CopyBuffer(w, bytes.NewReader(e.data), buf)
		return err
	}
	f, err := os.Open(e.src)
	if err != nil {
		return fmt.Errorf("bundle: cannot read %q: %w; fix its permissions or add it to .dockerignore", e.name, err)
	}
	defer func() { _ = f.Close() }()
	n, err := io.CopyBuffer(w, io.LimitReader(f, e.size), buf)
	if err != nil {
		return fmt.Errorf("bundle: reading %q: %w", e.name, err)
	}
	var one [1]byte
	if extra, _ := f.Read(one[:]); n != e.size || extra != 0 {
		return fmt.Errorf("bundle: %q changed while it was being packed; run the build again once nothing writes to the context", e.name)
	}
	return nil
}

// walker gathers the entries of a context, applying .dockerignore.
type walker struct {
	root string
	// pm is nil when there is no .dockerignore.
	pm *patternmatcher.PatternMatcher
	// prefixExceptions is true when every "!" exception is a plain path (no wildcards before
	// a trailing /* or /**): then an excluded folder needs entering only when an exception
	// lies beneath it. Otherwise an exception may match at any depth and excluded folders are
	// always entered. This is BuildKit's rule (tonistiigi/fsutil).
	prefixExceptions bool
	// forced paths are sent whatever .dockerignore says; forcedDirs are their ancestors.
	forced, forcedDirs map[string]bool

	entries []entry
	// pending holds excluded folders that were entered because something beneath them may be
	// re-included; they are emitted just before the first entry that is.
	pending []entry
}

func (w *walker) loadDockerignore() error {
	f, err := os.Open(filepath.Join(w.root, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bundle: cannot read .dockerignore: %w", err)
	}
	defer func() { _ = f.Close() }()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return fmt.Errorf("bundle: cannot read .dockerignore: %w", err)
	}
	if len(patterns) == 0 {
		return nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("bundle: .dockerignore in %s has an invalid pattern: %w; fix the pattern (Docker's syntax: https://docs.docker.com/build/concepts/context/#dockerignore-files)", w.root, err)
	}
	w.pm = pm
	w.prefixExceptions = true
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.ContainsAny(withoutTrailingGlob(p.String()), `*[]?^\`) {
			w.prefixExceptions = false
			break
		}
	}
	return nil
}

func withoutTrailingGlob(p string) string {
	p = strings.TrimSuffix(p, string(filepath.Separator)+"**")
	return strings.TrimSuffix(p, string(filepath.Separator)+"*")
}

func (w *walker) force(rel string) {
	w.forced[rel] = true
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		w.forcedDirs[d] = true
	}
}

// mayReinclude reports whether an excluded folder must still be entered.
func (w *walker) mayReinclude(rel string) bool {
	if w.forcedDirs[rel] {
		return true
	}
	if !w.pm.Exclusions() {
		return false
	}
	if !w.prefixExceptions {
		return true
	}
	dirSlash := rel + "/"
	for _, p := range w.pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(filepath.ToSlash(withoutTrailingGlob(p.String()))+"/", dirSlash) {
			return true
		}
	}
	return false
}

func (w *walker) emit(e entry) {
	w.entries = append(w.entries, w.pending...)
	w.pending = w.pending[:0]
	w.entries = append(w.entries, e)
}

// walkDir visits the folder rel (slash path, "" for the root) in name order. parent carries
// the pattern results of rel, so that each pattern is matched against each path only once.
func (w *walker) walkDir(rel string, parent patternmatcher.MatchInfo) error {
	dir := filepath.Join(w.root, filepath.FromSlash(rel))
	children, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return fmt.Errorf("bundle: cannot list %q in the build context: %w; fix its permissions or add it to .dockerignore", displayPath(rel), err)
	}
	for _, child := range children {
		name := child.Name()
		if rel != "" {
			name = rel + "/" + name
		}
		src := filepath.Join(dir, child.Name())
		fi, err := os.Lstat(src)
		if err != nil {
			return fmt.Errorf("bundle: cannot read %q in the build context: %w", name, err)
		}

		excluded := false
		var info patternmatcher.MatchInfo
		if w.pm != nil {
			excluded, info, err = w.pm.MatchesUsingParentResults(filepath.FromSlash(name), parent)
			if err != nil {
				return fmt.Errorf("bundle: matching %q against .dockerignore: %w", name, err)
			}
		}
		if w.forced[name] {
			excluded = false
		}

		mode := fi.Mode()
		switch {
		case mode.IsDir():
			e := entry{name: name, mode: fs.ModeDir | mode.Perm()}
			if excluded {
				if !w.mayReinclude(name) {
					continue
				}
				w.pending = append(w.pending, e)
				if err := w.walkDir(name, info); err != nil {
					return err
				}
				if n := len(w.pending); n > 0 && w.pending[n-1].name == name {
					w.pending = w.pending[:n-1]
				}
				continue
			}
			w.emit(e)
			if err := w.walkDir(name, info); err != nil {
				return err
			}
		case excluded:
		case mode.IsRegular():
			id, ok := identify(fi)
			w.emit(entry{name: name, src: src, mode: mode.Perm(), size: fi.Size(), id: id, hasID: ok})
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return fmt.Errorf("bundle: cannot read symlink %q in the build context: %w", name, err)
			}
			if symlinkEscapes(name, target) {
				return fmt.Errorf("bundle: symlink %q points to %q, outside the build context; the build pod refuses such links, so make it point inside the context or add it to .dockerignore", name, target)
			}
			w.emit(entry{name: name, mode: fs.ModeSymlink | mode.Perm(), link: target})
		default:
			// Sockets, named pipes and devices have no content to build from; Docker skips
			// them too.
		}
	}
	return nil
}

// checkSymlinkChains refuses a symlink whose target stays inside the context by its text but
// leaves it through other links (a/b -> .. with c -> a/b/../x), as [Extract] does, so that
// the error shows up here rather than in the build pod.
func checkSymlinkChains(contextRoot string, entries []entry) error {
	var root *os.Root
	for _, e := range entries {
		if e.mode&fs.ModeSymlink == 0 {
			continue
		}
		if root == nil {
			var err error
			if root, err = os.OpenRoot(contextRoot); err != nil {
				return fmt.Errorf("bundle: opening the build context: %w", err)
			}
			defer func() { _ = root.Close() }()
		}
		if err := resolvesInside(root, filepath.FromSlash(e.name)); err != nil {
			return fmt.Errorf("bundle: symlink %q points to %q, which resolves outside the build context (%w); the build pod refuses such links, so make it point inside the context without going through other links, or add it to .dockerignore", e.name, e.link, err)
		}
	}
	return nil
}

// symlinkEscapes reports whether a symlink at slash path name with the given target leaves
// the tree it is in, judging by the path alone: absolute targets always do, relative ones
// when they climb above the root.
func symlinkEscapes(name, target string) bool {
	if target == "" || path.IsAbs(target) {
		return true
	}
	resolved := path.Join(path.Dir(name), target)
	return resolved == ".." || strings.HasPrefix(resolved, "../")
}

func displayPath(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}
