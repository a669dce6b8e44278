// Package userns finds out whether a build pod really runs in a Linux user namespace, and carries
// that finding from the pod to the controller.
//
// Asking for one (`hostUsers: false`) is not proof of getting one: an API server with the
// UserNamespacesSupport feature gate off drops the field, and an old kubelet or runtime ignores it
// and starts the pod anyway, with root in the pod being root on the node. The kernel's answer is
// /proc/self/uid_map, which every process may read. The build pod's first init container reads it
// and writes it, as one line of its termination message, where the controller reads it back. All
// containers of a pod share the pod's user namespace, so that line speaks for the Kaniko container
// as well.
package userns

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Range maps Count consecutive IDs: Inside, as the process's own user namespace numbers them, is
// Outside in the parent user namespace (the node's, for a pod).
type Range struct {
	Inside, Outside, Count uint32
}

// Mapping is a process's UID mapping, in the kernel's order.
type Mapping []Range

// identity is the mapping of a process in the node's initial user namespace.
var identity = Mapping{{Inside: 0, Outside: 0, Count: 4294967295}}

// MessagePrefix starts the line of a container's termination message that holds the pod's UID
// mapping: "uid_map: 0 3497590784 65536".
const MessagePrefix = "uid_map: "

// uidMapPath is where the kernel shows the calling process's UID mapping.
const uidMapPath = "/proc/self/uid_map"

// Read returns the calling process's UID mapping.
func Read() (Mapping, error) {
	raw, err := os.ReadFile(uidMapPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", uidMapPath, err)
	}
	return Parse(string(raw))
}

// Parse reads the kernel's uid_map format, one "inside outside count" triple per line. A mapping
// written on one line by String (ranges separated by commas) is read as well.
func Parse(s string) (Mapping, error) {
	var m Mapping
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' }) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("uid_map line %q: want three numbers (inside, outside, count)", line)
		}
		var n [3]uint32
		for i, f := range fields {
			v, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("uid_map line %q: %q is not a 32-bit unsigned number", line, f)
			}
			n[i] = uint32(v)
		}
		if n[2] == 0 {
			return nil, fmt.Errorf("uid_map line %q maps no IDs", line)
		}
		m = append(m, Range{Inside: n[0], Outside: n[1], Count: n[2]})
	}
	if len(m) == 0 {
		return nil, errors.New("uid_map is empty: the process's user namespace maps no user IDs")
	}
	return m, nil
}

// Outside is the parent namespace's ID of id, and false when id is not mapped.
func (m Mapping) Outside(id uint32) (uint32, bool) {
	for _, r := range m {
		if id >= r.Inside && id-r.Inside < r.Count {
			return r.Outside + (id - r.Inside), true
		}
	}
	return 0, false
}

// RootIsUnprivileged reports whether root (UID 0) of this user namespace is an ordinary user
// outside it: the property that matters when a build runs as root. It is false for the node's own
// namespace (the identity mapping) and for a namespace that maps root onto root.
func (m Mapping) RootIsUnprivileged() bool {
	outside, ok := m.Outside(0)
	return !ok || outside != 0
}

// Identity reports whether m is the mapping of the node's initial user namespace.
func (m Mapping) Identity() bool {
	return len(m) == 1 && m[0] == identity[0]
}

// IDs is how many IDs the mapping covers.
func (m Mapping) IDs() uint64 {
	var n uint64
	for _, r := range m {
		n += uint64(r.Count)
	}
	return n
}

// String is the mapping as uid_map shows it, ranges separated by ", ": "0 3497590784 65536".
func (m Mapping) String() string {
	parts := make([]string, len(m))
	for i, r := range m {
		parts[i] = fmt.Sprintf("%d %d %d", r.Inside, r.Outside, r.Count)
	}
	return strings.Join(parts, ", ")
}

// Describe says in one sentence what the mapping means for a build that runs as root.
func (m Mapping) Describe() string {
	root, ok := m.Outside(0)
	switch {
	case m.Identity():
		return "no user namespace: root in this pod is root on the node (uid_map " + m.String() + ")"
	case !ok:
		return "user namespace without root: UID 0 is not mapped (uid_map " + m.String() + ")"
	case root == 0:
		return "user namespace that maps root to the node's root (uid_map " + m.String() + ")"
	}
	return fmt.Sprintf("user namespace: root in this pod is UID %d on the node, which maps %d IDs (uid_map %s)", root, m.IDs(), m.String())
}

// MessageLine is the termination message line that carries m.
func MessageLine(m Mapping) string { return MessagePrefix + m.String() }

// FromMessage finds the mapping in a container's termination message. It reports false when the
// message carries none, as with a container of an older version, or one that died before writing it.
func FromMessage(msg string) (Mapping, bool) {
	for _, line := range strings.Split(msg, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), MessagePrefix); ok {
			m, err := Parse(rest)
			return m, err == nil
		}
	}
	return nil, false
}

// WithoutReport is msg without the mapping line, for code that reads the rest of the message.
func WithoutReport(msg string) string {
	lines := strings.Split(msg, "\n")
	kept := lines[:0]
	for _, line := range lines {
		if !strings.HasPrefix(strings.TrimSpace(line), MessagePrefix) {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}
