package userns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAndVerdict(t *testing.T) {
	tests := []struct {
		name         string
		uidMap       string
		unprivileged bool
		identity     bool
		root         uint32 // outside ID of UID 0, when mapped
		ids          uint64
		describe     string // substring of Describe
	}{
		// What a process on the node (or in a pod with hostUsers: true) reads, padded as the kernel pads it.
		{"node", "         0          0 4294967295\n", false, true, 0, 4294967295, "root in this pod is root on the node"},
		// A kubelet without a `kubelet` user gives each pod 65,536 IDs at a multiple of 65,536.
		{"pod with a user namespace", "         0 3497590784      65536\n", true, false, 3497590784, 65536, "root in this pod is UID 3497590784 on the node, which maps 65536 IDs"},
		{"several ranges", "0 100000 1000\n1000 1000 1\n1001 101001 64535\n", true, false, 100000, 65536, "UID 100000"},
		{"one line with commas", "0 1355218944 65536, 65536 0 1", true, false, 1355218944, 65537, "UID 1355218944"},
		// A privileged runtime may map root onto root in a namespace of its own: still root on the node.
		{"root mapped to root", "0 0 65536\n", false, false, 0, 65536, "maps root to the node's root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.uidMap)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.RootIsUnprivileged(); got != tt.unprivileged {
				t.Errorf("RootIsUnprivileged = %v, want %v", got, tt.unprivileged)
			}
			if got := m.Identity(); got != tt.identity {
				t.Errorf("Identity = %v, want %v", got, tt.identity)
			}
			if got, ok := m.Outside(0); !ok || got != tt.root {
				t.Errorf("Outside(0) = %d, %v; want %d", got, ok, tt.root)
			}
			if got := m.IDs(); got != tt.ids {
				t.Errorf("IDs = %d, want %d", got, tt.ids)
			}
			if d := m.Describe(); !strings.Contains(d, tt.describe) {
				t.Errorf("Describe = %q, want it to contain %q", d, tt.describe)
			}
			// The one-line form survives the trip through a termination message.
			back, ok := FromMessage("fetching failed\n" + MessageLine(m) + "\nmore")
			if !ok || back.String() != m.String() {
				t.Errorf("FromMessage(MessageLine) = %v, %v; want %v", back, ok, m)
			}
		})
	}
}

func TestOutside(t *testing.T) {
	m, err := Parse("0 100000 1000\n1000 1000 1\n1001 101001 64535")
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[uint32]uint32{0: 100000, 999: 100999, 1000: 1000, 1001: 101001, 65535: 165535} {
		if got, ok := m.Outside(id); !ok || got != want {
			t.Errorf("Outside(%d) = %d, %v; want %d", id, got, ok, want)
		}
	}
	// A base image's file owned by UID 70000 has no ID on the node: the chown Kaniko does fails.
	if got, ok := m.Outside(70000); ok {
		t.Errorf("Outside(70000) = %d, want unmapped", got)
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{"", "\n", "0 0", "0 0 0", "a b c", "0 0 4294967296", "-1 0 1", "0 1 2 3"} {
		if m, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, m)
		}
	}
}

func TestFromMessage(t *testing.T) {
	for _, msg := range []string{"", "fetched", "pulling the bundle: 401 Unauthorized", "uid_map: garbage"} {
		if m, ok := FromMessage(msg); ok {
			t.Errorf("FromMessage(%q) = %v, want no report", msg, m)
		}
	}
	msg := "uid_map: 0 3497590784 65536\nfetching source bundle x: unauthorized"
	if got := WithoutReport(msg); got != "fetching source bundle x: unauthorized" {
		t.Errorf("WithoutReport = %q", got)
	}
}

// The probe on this machine: the test runs on the node itself (or in a container), and whatever
// the kernel says, the report must be a mapping the controller can read back.
func TestProbeHere(t *testing.T) {
	raw, err := os.ReadFile(uidMapPath)
	if err != nil {
		t.Skipf("no %s here: %v", uidMapPath, err)
	}
	line, description := Probe()
	m, ok := FromMessage(line)
	if !ok {
		t.Fatalf("Probe() line %q is not readable by FromMessage (description %q)", line, description)
	}
	want, err := Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != want.String() {
		t.Errorf("Probe reported %v, the kernel says %v", m, want)
	}
	log := filepath.Join(t.TempDir(), "termination-log")
	if code := Main(nil, log); code != 0 {
		t.Fatalf("Main = %d", code)
	}
	written, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := FromMessage(string(written)); !ok || got.String() != want.String() {
		t.Errorf("termination log %q, want the mapping %v", written, want)
	}
	if code := Main([]string{"extra"}, log); code != 2 {
		t.Errorf("Main(extra) = %d, want 2", code)
	}
}
