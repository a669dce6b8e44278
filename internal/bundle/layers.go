package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// A bundle is split into several layers so that changing one file re-uploads one small layer
// instead of the whole context. Where a layer ends is decided by the entries themselves, not by
// their position: after an entry whose name hashes to a "boundary" value (content-defined
// chunking over the sorted list of entries), once the layer holds a quarter of the average size,
// or before the entry that would take it past twice the average. Rewriting a file without
// changing its size moves no boundary; changing its size, adding or removing a file moves at most
// the next one or two: every other layer keeps its exact bytes and digest, and the registry
// already has it.
//
// Layer sizes are counted in tar bytes (header plus padded content). The average grows with the
// context, as a power of two, so that a bundle has about maxLayersAim layers at most whatever its
// size; a context crossing such a power of two is cut afresh once.
var (
	// minAvgLayerBytes is the average layer size of contexts up to maxLayersAim times it.
	minAvgLayerBytes int64 = 1 << 20
	// maxLayersAim is the number of layers the average size aims at for large contexts.
	maxLayersAim int64 = 256
)

// MaxLayers is the most layers a source bundle may have. The packer makes at most about
// 6 × maxLayersAim: layers hold at least a quarter of the average, except the last and those
// closed early because the next entry alone would not fit (at most one per entry larger than
// twice the average). The build pod refuses bundles beyond this.
const MaxLayers = 4096

// tarBlock is the tar format's record unit: every header and every content is padded to it.
const tarBlock = 512

// tarWeight is the number of bytes e takes in a tar stream (without PAX records).
func tarWeight(e entry) int64 {
	w := int64(tarBlock)
	if e.typeflag() == tar.TypeReg {
		w += (e.size + tarBlock - 1) / tarBlock * tarBlock
	}
	return w
}

// layerSizes returns the average, smallest and largest layer size for a context of total tar
// bytes. A layer ends early only at a boundary entry and only once it holds min bytes; it ends
// before the entry that would take it past max whatever the entry is.
func layerSizes(total int64) (avgBits int, minBytes, maxBytes int64) {
	avg := minAvgLayerBytes
	for total/avg > maxLayersAim {
		avg *= 2
	}
	return bits.Len64(uint64(avg)) - 1, avg / 4, avg * 2
}

// isBoundary reports whether a layer may end after e: with a chance of the entry's tar weight over
// the average layer size, so that layers average that many bytes whether the context holds many
// small files or few large ones. The draw is the entry's name hashed, the same on every run and
// whatever comes before the entry: editing a file's content moves no boundary, and changing its
// size moves one only with a chance of the change over the average layer size.
func isBoundary(e entry, avgBits int) bool {
	sum := sha256.Sum256([]byte(e.name))
	draw := binary.BigEndian.Uint64(sum[:8]) >> (64 - avgBits) // uniform in [0, 2^avgBits)
	return draw < uint64(tarWeight(e))
}

// split cuts the planned entries into the layers of the bundle, in order. A plan with no entries
// still gives one (empty) layer, so that every bundle has at least one.
func (p *contextPlan) split() []*contextPlan {
	var total int64
	for _, e := range p.entries {
		total += tarWeight(e)
	}
	avgBits, minBytes, maxBytes := layerSizes(total)
	var parts []*contextPlan
	start, cur := 0, int64(0)
	for i, e := range p.entries {
		w := tarWeight(e)
		if cur > 0 && cur+w > maxBytes {
			parts = append(parts, p.sub(start, i))
			start, cur = i, 0
		}
		cur += w
		if cur >= minBytes && isBoundary(e, avgBits) {
			parts = append(parts, p.sub(start, i+1))
			start, cur = i+1, 0
		}
	}
	if start < len(p.entries) || len(parts) == 0 {
		parts = append(parts, p.sub(start, len(p.entries)))
	}
	return parts
}

// sub is the plan of entries [from, to).
func (p *contextPlan) sub(from, to int) *contextPlan {
	return &contextPlan{entries: p.entries[from:to:to], dockerfilePath: p.dockerfilePath, root: p.root}
}
