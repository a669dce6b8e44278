package bundle

import (
	"io/fs"
	"syscall"
)

// identify returns what tells a file's content apart without reading it: see [fileID].
func identify(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{
		dev:   uint64(st.Dev),
		ino:   st.Ino,
		mtime: st.Mtimespec.Nano(),
		ctime: st.Ctimespec.Nano(),
	}, true
}
