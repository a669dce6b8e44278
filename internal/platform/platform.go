// Package platform reads the platforms of multi-platform builds, "os/arch[/variant]" as Docker
// writes them, and answers the questions the CLI, the build pods and the operator ask of one: is
// it the same platform as another (linux/arm64 and linux/arm64/v8 are), what its pods and node
// labels are called, what Kaniko and the image index are told, and whether an image config
// really is for it.
package platform

import (
	"fmt"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// Platform is an OS, an architecture (GOARCH spelling) and an optional variant (v7, v8).
type Platform struct {
	OS, Arch, Variant string
}

// grammar is the API's (the CRD validates spec.platforms with the same expression).
var grammar = regexp.MustCompile(buildv1.PlatformPattern)

// aliases are the names other tools print (uname -m, Debian) for Go's architectures.
var aliases = map[string]string{
	"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
	"i386": "386", "i686": "386",
}

// Parse reads one platform as spec.platforms accepts it. The error says what is wrong and gives
// examples; it suggests Go's name when an architecture is written the uname way (aarch64).
func Parse(s string) (Platform, error) {
	if grammar.MatchString(s) {
		parts := strings.Split(s, "/")
		p := Platform{OS: parts[0], Arch: parts[1]}
		if len(parts) == 3 {
			p.Variant = parts[2]
		}
		return p, nil
	}
	hint := ""
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	if len(parts) >= 2 {
		if a, ok := aliases[parts[1]]; ok {
			parts[1] = a
			hint = fmt.Sprintf(" (did you mean %s?)", strings.Join(parts, "/"))
		} else if parts[0] != "linux" {
			hint = " (Kaniko builds Linux images only)"
		}
	}
	return Platform{}, fmt.Errorf("platform %q is not os/arch[/variant] with os linux and a Go architecture name%s: use for example linux/amd64, linux/arm64 or linux/arm/v7", s, hint)
}

// ParseList reads a list of platforms and refuses one named twice (linux/arm64 and linux/arm64/v8
// count as the same).
func ParseList(ss []string) ([]Platform, error) {
	var out []Platform
	for _, s := range ss {
		p, err := Parse(s)
		if err != nil {
			return nil, err
		}
		for _, q := range out {
			if q.Matches(p) {
				return nil, fmt.Errorf("platform %s is listed twice (as %s and %s): list it once", p.Normalize(), q, p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// String is "os/arch[/variant]" as written.
func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Normalize spells p the one way that compares: arm64/v8 is arm64, arm without a variant is
// arm/v7, amd64/v1 is amd64 (containerd's rules, which the kubelet's image pulls follow).
func (p Platform) Normalize() Platform {
	switch {
	case p.Arch == "arm64" && p.Variant == "v8", p.Arch == "amd64" && p.Variant == "v1":
		p.Variant = ""
	case p.Arch == "arm" && p.Variant == "":
		p.Variant = "v7"
	}
	return p
}

// Matches reports whether p and q are the same platform.
func (p Platform) Matches(q Platform) bool { return p.Normalize() == q.Normalize() }

// Slug names p where a slash cannot go, in pod names, label values and label keys:
// linux-arm64, linux-arm-v7.
func (p Platform) Slug() string { return strings.ReplaceAll(p.Normalize().String(), "/", "-") }

// EmulationLabel is the node label that says a node can run p's programs under emulation.
func (p Platform) EmulationLabel() string { return buildv1.EmulationLabelPrefix + p.Slug() }

// Kaniko is the value of Kaniko's --custom-platform. arm64 goes without its variant: Kaniko then
// picks the arm64 image of a base index whether the index writes it arm64 or arm64/v8, where
// linux/arm64/v8 would miss an index that writes plain arm64.
func (p Platform) Kaniko() string { return p.Normalize().String() }

// Index is the platform written into the image index for p's image. arm64 carries variant v8,
// Docker's convention: a pull for linux/arm64 and one for linux/arm64/v8 both find it.
func (p Platform) Index() *v1.Platform {
	n := p.Normalize()
	if n.Arch == "arm64" {
		n.Variant = "v8"
	}
	return &v1.Platform{OS: n.OS, Architecture: n.Arch, Variant: n.Variant}
}

// BuildArgs are the platform build args buildx defines without an ARG line. Kaniko runs every
// stage as the target platform (it ignores FROM --platform), so the build platform a Dockerfile
// sees is the target platform too.
func (p Platform) BuildArgs() map[string]string {
	n := p.Normalize()
	return map[string]string{
		"TARGETPLATFORM": p.String(), "TARGETOS": n.OS, "TARGETARCH": n.Arch, "TARGETVARIANT": n.Variant,
		"BUILDPLATFORM": p.String(), "BUILDOS": n.OS, "BUILDARCH": n.Arch, "BUILDVARIANT": n.Variant,
	}
}

// OfConfig is the platform an image config says its image is for.
func OfConfig(cfg *v1.ConfigFile) Platform {
	return Platform{OS: cfg.OS, Arch: cfg.Architecture, Variant: cfg.Variant}
}

// OfDescriptor is the platform an index entry says its image is for; ok is false when it says none.
func OfDescriptor(d *v1.Platform) (Platform, bool) {
	if d == nil || d.OS == "" || d.Architecture == "" {
		return Platform{}, false
	}
	return Platform{OS: d.OS, Arch: d.Architecture, Variant: d.Variant}, true
}

// NodeSelector is what pins a pod to the nodes of p's own OS and architecture. Nodes do not
// advertise a variant.
func (p Platform) NodeSelector() map[string]string {
	return map[string]string{"kubernetes.io/os": p.OS, "kubernetes.io/arch": p.Arch}
}
