// Package kubename makes Kubernetes object names and label values out of arbitrary names: an
// ImageBuild's name plus a suffix for its pods, a FleetFlow project and service for an ImageBuild.
// A name that does not fit is cut and gets a hash of the whole name, so that different names
// never end up the same.
package kubename

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxLength is the longest DNS label, and so the longest pod name (the kubelet uses it as the
// hostname) and the longest label value.
const MaxLength = validation.DNS1123LabelMaxLength

// hashLength is the number of hex digits of the hash added to a name that had to change: 32 bits,
// enough to keep the few names of one namespace apart.
const hashLength = 8

// DNSLabel returns name+suffix when that is a DNS label (RFC 1123: lowercase letters, digits and
// '-', at most 63 characters), and otherwise a DNS-label prefix of name, '-', a hash of the whole
// name, and suffix. suffix must itself consist of DNS-label characters and leave room for the
// hash.
func DNSLabel(name, suffix string) string {
	if len(validation.IsDNS1123Label(name+suffix)) == 0 {
		return name + suffix
	}
	sum := sha256.Sum256([]byte(name))
	hash := hex.EncodeToString(sum[:])[:hashLength]
	keep := MaxLength - len(suffix) - len(hash) - 1
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if b.Len() >= keep {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	prefix := strings.Trim(b.String(), "-")
	if prefix == "" {
		return hash + suffix
	}
	return prefix + "-" + hash + suffix
}

// LabelValue returns s when it is a valid label value (an ImageBuild's name always is, unless it
// is longer than 63 characters), and otherwise DNSLabel(s, "").
func LabelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	return DNSLabel(s, "")
}
