package baseimage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/testing/registrytest"
)

func TestCheck(t *testing.T) {
	reg := registrytest.New(t, "u", "p")
	multi := reg.Repo("base/multi:1")
	reg.PushIndex(t, multi, registrytest.Index(t, "linux/amd64", "linux/arm64/v8"))
	amd64Index := reg.Repo("base/amd64-index:1")
	reg.PushIndex(t, amd64Index, registrytest.Index(t, "linux/amd64", "linux/386"))
	amd64Only := reg.Repo("base/amd64-only:1")
	reg.PushImage(t, amd64Only, registrytest.PlatformImage(t, "linux/amd64"))
	armv7Only := reg.Repo("base/armv7:1")
	reg.PushImage(t, armv7Only, registrytest.PlatformImage(t, "linux/arm/v7"))

	for _, tt := range []struct {
		name      string
		images    []string
		platform  string
		mismatch  string // substring of the error; "" for none
		unchecked int
	}{
		{"index has the platform", []string{multi}, "linux/arm64", "", 0},
		{"index entry arm64/v8 serves linux/arm64/v8 too", []string{multi}, "linux/arm64/v8", "", 0},
		{"index lacks the platform", []string{multi, amd64Index}, "linux/arm64", "base image " + amd64Index + " has no linux/arm64 image (it is published for linux/amd64, linux/386)", 0},
		{"single image of another platform", []string{amd64Only}, "linux/arm64", "base image " + amd64Only + " is a linux/amd64 image only, so it cannot be built for linux/arm64", 0},
		{"single image of the platform", []string{amd64Only}, "linux/amd64", "", 0},
		{"arm without variant is arm/v7", []string{armv7Only}, "linux/arm", "", 0},
		{"missing image is left to the build", []string{reg.Repo("base/nope:1"), multi}, "linux/amd64", "", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := platform.Parse(tt.platform)
			if err != nil {
				t.Fatal(err)
			}
			unchecked, err := Check(context.Background(), tt.images, p, reg.Options()...)
			var m *MismatchError
			switch {
			case tt.mismatch == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.mismatch != "" && (!errors.As(err, &m) || !strings.Contains(err.Error(), tt.mismatch)):
				t.Fatalf("error = %v, want a mismatch with %q", err, tt.mismatch)
			}
			if len(unchecked) != tt.unchecked {
				t.Errorf("unchecked = %v, want %d", unchecked, tt.unchecked)
			}
		})
	}
}

func TestCheckWithoutCredentialsLeavesTheImageToTheBuild(t *testing.T) {
	reg := registrytest.New(t, "u", "p")
	ref := reg.Repo("base/amd64-only:1")
	reg.PushImage(t, ref, registrytest.PlatformImage(t, "linux/amd64"))
	p, _ := platform.Parse("linux/arm64")
	// Without credentials the registry refuses: the check cannot tell, and Kaniko will report the
	// refusal precisely.
	unchecked, err := Check(context.Background(), []string{ref}, p, reg.Options()[0])
	if err != nil || len(unchecked) != 1 {
		t.Errorf("unchecked %v, err %v; want one unchecked image and no error", unchecked, err)
	}
}
