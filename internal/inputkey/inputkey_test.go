package inputkey

import (
	"strings"
	"testing"
)

func base() Inputs {
	return Inputs{
		BundleDigest: "sha256:" + strings.Repeat("a", 64),
		Dockerfile:   []byte("FROM alpine:3.20\nCOPY . /app\n"),
		Target:       "",
		BuildArgs:    []Arg{{Name: "VERSION", Value: "1.0"}, {Name: "MODE", Value: "prod"}},
		Platforms: []Platform{{Platform: "", Bases: []Base{
			{Image: "alpine:3.20", Digest: "sha256:" + strings.Repeat("b", 64)},
		}}},
		ExecutorImage: "gcr.io/kaniko-project/executor:v1.24.0",
		Flags:         []string{"--snapshot-mode=redo", "--skip-unused-stages"},
	}
}

func TestEachInputChangesTheKey(t *testing.T) {
	want := mustCompute(t, base())
	for name, change := range map[string]func(*Inputs){
		"bundle digest":         func(in *Inputs) { in.BundleDigest = "sha256:" + strings.Repeat("c", 64) },
		"Dockerfile content":    func(in *Inputs) { in.Dockerfile = append(in.Dockerfile, "RUN true\n"...) },
		"target":                func(in *Inputs) { in.Target = "prod" },
		"build arg value":       func(in *Inputs) { in.BuildArgs[0].Value = "1.1" },
		"build arg name":        func(in *Inputs) { in.BuildArgs[0].Name = "VERSION2" },
		"build arg added":       func(in *Inputs) { in.BuildArgs = append(in.BuildArgs, Arg{Name: "X"}) },
		"build arg removed":     func(in *Inputs) { in.BuildArgs = in.BuildArgs[:1] },
		"base image moved":      func(in *Inputs) { in.Platforms[0].Bases[0].Digest = "sha256:" + strings.Repeat("d", 64) },
		"base image renamed":    func(in *Inputs) { in.Platforms[0].Bases[0].Image = "alpine:3.21" },
		"base image added":      func(in *Inputs) { in.Platforms[0].Bases = append(in.Platforms[0].Bases, in.Platforms[0].Bases[0]) },
		"platform named":        func(in *Inputs) { in.Platforms[0].Platform = "linux/amd64" },
		"platform added":        func(in *Inputs) { in.Platforms = append(in.Platforms, Platform{Platform: "linux/arm64"}) },
		"executor image":        func(in *Inputs) { in.ExecutorImage = "gcr.io/kaniko-project/executor:v1.25.0" },
		"executor flag":         func(in *Inputs) { in.Flags = append(in.Flags, "--reproducible") },
		"executor flag removed": func(in *Inputs) { in.Flags = nil },
	} {
		t.Run(name, func(t *testing.T) {
			in := base()
			in.BuildArgs = append([]Arg(nil), in.BuildArgs...)
			in.Platforms = []Platform{{Platform: in.Platforms[0].Platform, Bases: append([]Base(nil), in.Platforms[0].Bases...)}}
			change(&in)
			if got := mustCompute(t, in); got == want {
				t.Fatalf("the key did not change: %s", got)
			}
		})
	}
}

func TestIrrelevantChangesKeepTheKey(t *testing.T) {
	want := mustCompute(t, base())
	for name, change := range map[string]func(*Inputs){
		"nothing":              func(*Inputs) {},
		"build arg order":      func(in *Inputs) { in.BuildArgs[0], in.BuildArgs[1] = in.BuildArgs[1], in.BuildArgs[0] },
		"Dockerfile same text": func(in *Inputs) { in.Dockerfile = []byte(string(in.Dockerfile)) },
	} {
		t.Run(name, func(t *testing.T) {
			in := base()
			change(&in)
			if got := mustCompute(t, in); got != want {
				t.Fatalf("the key changed: %s, want %s", got, want)
			}
		})
	}
	two := func(order ...string) string {
		in := base()
		in.Platforms = nil
		for _, p := range order {
			in.Platforms = append(in.Platforms, Platform{Platform: p, Bases: base().Platforms[0].Bases})
		}
		return mustCompute(t, in)
	}
	if a, b := two("linux/amd64", "linux/arm64"), two("linux/arm64", "linux/amd64"); a != b {
		t.Fatalf("the order of the platforms changed the key: %s and %s", a, b)
	}
	nilFlags, emptyFlags := base(), base()
	nilFlags.Flags, emptyFlags.Flags = nil, []string{}
	if mustCompute(t, nilFlags) != mustCompute(t, emptyFlags) {
		t.Fatal("nil and empty flags give different keys")
	}
}

func TestEncodingHoldsNoBuildArgValue(t *testing.T) {
	in := base()
	in.BuildArgs = []Arg{{Name: "TOKEN", Value: "s3cr3t-value"}}
	data, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cr3t-value") {
		t.Fatalf("the encoding shows a build arg value: %s", data)
	}
	if !strings.HasPrefix(string(data), `{"version":1,`) {
		t.Fatalf("the encoding does not start with its version: %s", data)
	}
}

func TestInvalidInputs(t *testing.T) {
	for name, change := range map[string]func(*Inputs){
		"bundle digest not sha256": func(in *Inputs) { in.BundleDigest = "latest" },
		"no platform":              func(in *Inputs) { in.Platforms = nil },
		"base without digest":      func(in *Inputs) { in.Platforms[0].Bases[0].Digest = "" },
		"build arg twice":          func(in *Inputs) { in.BuildArgs = append(in.BuildArgs, in.BuildArgs[0]) },
		"platform twice":           func(in *Inputs) { in.Platforms = append(in.Platforms, in.Platforms[0]) },
	} {
		t.Run(name, func(t *testing.T) {
			in := base()
			change(&in)
			if key, err := Compute(in); err == nil {
				t.Fatalf("got key %s, want an error", key)
			}
		})
	}
}

func TestTag(t *testing.T) {
	key := mustCompute(t, base())
	tag := Tag(key)
	if len(tag) != len(TagPrefix)+64 || !strings.HasPrefix(tag, TagPrefix) || len(tag) > 128 {
		t.Fatalf("tag %q is not %s<64 hex>", tag, TagPrefix)
	}
}

func mustCompute(t *testing.T, in Inputs) string {
	t.Helper()
	key, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "sha256:") || len(key) != 71 {
		t.Fatalf("key %q is not sha256:<64 hex>", key)
	}
	return key
}
