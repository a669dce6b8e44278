package platform

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in, want, slug, kaniko string
		index                  v1.Platform
	}{
		{"linux/amd64", "linux/amd64", "linux-amd64", "linux/amd64", v1.Platform{OS: "linux", Architecture: "amd64"}},
		{"linux/arm64", "linux/arm64", "linux-arm64", "linux/arm64", v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{"linux/arm64/v8", "linux/arm64/v8", "linux-arm64", "linux/arm64", v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{"linux/arm/v7", "linux/arm/v7", "linux-arm-v7", "linux/arm/v7", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{"linux/arm", "linux/arm", "linux-arm-v7", "linux/arm/v7", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{"linux/arm/v6", "linux/arm/v6", "linux-arm-v6", "linux/arm/v6", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{"linux/riscv64", "linux/riscv64", "linux-riscv64", "linux/riscv64", v1.Platform{OS: "linux", Architecture: "riscv64"}},
	} {
		p, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if p.String() != tt.want || p.Slug() != tt.slug || p.Kaniko() != tt.kaniko || !p.Index().Equals(tt.index) {
			t.Errorf("%s: String %q Slug %q Kaniko %q Index %+v", tt.in, p.String(), p.Slug(), p.Kaniko(), *p.Index())
		}
		// Slugs go into pod names, label values and label keys.
		if errs := validation.IsValidLabelValue(p.Slug()); len(errs) > 0 {
			t.Errorf("slug %q: %v", p.Slug(), errs)
		}
		if errs := validation.IsQualifiedName(p.EmulationLabel()); len(errs) > 0 {
			t.Errorf("emulation label %q: %v", p.EmulationLabel(), errs)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"linux/aarch64":  "did you mean linux/arm64?",
		"linux/x86_64":   "did you mean linux/amd64?",
		"windows/amd64":  "Kaniko builds Linux images only",
		"arm64":          "use for example linux/amd64",
		"Linux/AMD64":    "use for example",
		"linux/arm64/8":  "use for example",
		"linux/amd64/":   "use for example",
		"":               "use for example",
		"linux/arm64,v8": "use for example",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

func TestParseListRefusesTheSamePlatformTwice(t *testing.T) {
	if _, err := ParseList([]string{"linux/amd64", "linux/arm64", "linux/arm64/v8"}); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("arm64 and arm64/v8: %v", err)
	}
	if _, err := ParseList([]string{"linux/arm", "linux/arm/v7"}); err == nil {
		t.Errorf("arm and arm/v7 are the same platform")
	}
	got, err := ParseList([]string{"linux/arm/v6", "linux/arm/v7", "linux/amd64"})
	if err != nil || len(got) != 3 {
		t.Errorf("distinct platforms: %v, %v", got, err)
	}
}

func TestMatches(t *testing.T) {
	p := func(s string) Platform {
		return Platform{OS: "linux", Arch: strings.Split(s, "/")[0], Variant: strings.TrimPrefix(strings.TrimPrefix(s, strings.Split(s, "/")[0]), "/")}
	}
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"arm64", "arm64/v8", true},
		{"amd64", "amd64/v1", true},
		{"arm", "arm/v7", true},
		{"arm/v6", "arm/v7", false},
		{"amd64", "arm64", false},
		{"amd64/v3", "amd64", false},
	} {
		if got := p(tt.a).Matches(p(tt.b)); got != tt.same {
			t.Errorf("%s matches %s = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

func TestBuildArgs(t *testing.T) {
	p, _ := Parse("linux/arm/v7")
	args := p.BuildArgs()
	for k, want := range map[string]string{"TARGETPLATFORM": "linux/arm/v7", "TARGETARCH": "arm", "TARGETVARIANT": "v7", "TARGETOS": "linux", "BUILDARCH": "arm"} {
		if args[k] != want {
			t.Errorf("%s = %q, want %q", k, args[k], want)
		}
	}
}
