// Package inputkey computes the input key of a build: one hash of everything that decides what
// image a build produces. Two builds with the same key produce the same image, so the operator
// reuses an image built earlier from the same key instead of running a pod.
//
// What enters the key, and why:
//
//   - the source: the digest of the source bundle (it pins every file of the context);
//   - the Dockerfile's content (a bundle may be built with different Dockerfiles), not its path;
//   - the target stage;
//   - the build args, by name, with each value replaced by its SHA-256, so that the canonical
//     encoding can be shown or logged without the values;
//   - the platforms, and for each the digest of every base image (the FROM lines of the stages the
//     target needs, after build-arg substitution), as the registry answers for its tag now;
//   - the executor image and the executor flags that change the image.
//
// Left out on purpose: tags, the destination repository, the layer cache settings, retries,
// timeouts and resources, which change where and how fast an image is pushed but not what it
// holds.
//
// The encoding is canonical JSON (fixed field order, lists sorted where their order means
// nothing) that starts with a version. A later version of the encoding gives different keys, so
// an operator upgrade that changes it rebuilds each image once and never reuses an image on a
// misread key.
package inputkey

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Version is the version of the key's encoding.
const Version = 1

// TagPrefix starts the tag of a build record in the cache repository.
const TagPrefix = "input-"

// Inputs are the inputs of one build.
type Inputs struct {
	// BundleDigest is the digest of the source bundle, sha256:<hex>.
	BundleDigest string
	// Dockerfile is the Dockerfile's content.
	Dockerfile []byte
	// Target is the stage built; empty is the last one.
	Target string
	// BuildArgs are the build args of the spec (not the platform args the build adds itself,
	// which follow from the platform).
	BuildArgs []Arg
	// Platforms are the platforms built, each with its base images. A build without
	// spec.platforms has one entry with an empty Platform.
	Platforms []Platform
	// ExecutorImage is the Kaniko executor image reference.
	ExecutorImage string
	// Flags are the executor flags that change the image, in the order they are passed.
	Flags []string
}

// Arg is one build arg.
type Arg struct{ Name, Value string }

// Platform is one platform with the base images its build starts from.
type Platform struct {
	// Platform is os/arch[/variant], normalised; empty for a build without spec.platforms.
	Platform string
	// Bases are the base images in stage order.
	Bases []Base
}

// Base is one base image: its name as the Dockerfile gives it (build args substituted) and the
// digest of the manifest (or index) the registry serves for it.
type Base struct{ Image, Digest string }

// encoded is the canonical form. Field order is the struct's; json.Marshal keeps it.
type encoded struct {
	Version    int             `json:"version"`
	Source     encodedSource   `json:"source"`
	Dockerfile string          `json:"dockerfile"`
	Target     string          `json:"target"`
	BuildArgs  []encodedArg    `json:"buildArgs"`
	Platforms  []Platform      `json:"platforms"`
	Executor   encodedExecutor `json:"executor"`
}

type encodedSource struct {
	Bundle string `json:"bundle"`
}

type encodedArg struct {
	Name        string `json:"name"`
	ValueSHA256 string `json:"valueSHA256"`
}

type encodedExecutor struct {
	Image string   `json:"image"`
	Flags []string `json:"flags"`
}

// Encode returns the canonical encoding of in. It holds no build-arg value.
func Encode(in Inputs) ([]byte, error) {
	if !strings.HasPrefix(in.BundleDigest, "sha256:") {
		return nil, fmt.Errorf("the source bundle digest %q is not sha256:<hex>", in.BundleDigest)
	}
	if len(in.Platforms) == 0 {
		return nil, fmt.Errorf("no platform")
	}
	e := encoded{
		Version:    Version,
		Source:     encodedSource{Bundle: in.BundleDigest},
		Dockerfile: sum(in.Dockerfile),
		Target:     in.Target,
		BuildArgs:  make([]encodedArg, 0, len(in.BuildArgs)),
		Platforms:  slices.Clone(in.Platforms),
		Executor:   encodedExecutor{Image: in.ExecutorImage, Flags: in.Flags},
	}
	if e.Executor.Flags == nil {
		e.Executor.Flags = []string{}
	}
	seen := map[string]bool{}
	for _, a := range in.BuildArgs {
		if seen[a.Name] {
			return nil, fmt.Errorf("build arg %s is given twice", a.Name)
		}
		seen[a.Name] = true
		e.BuildArgs = append(e.BuildArgs, encodedArg{Name: a.Name, ValueSHA256: sum([]byte(a.Value))})
	}
	// The order of build args and platforms in the spec changes nothing in the image.
	slices.SortFunc(e.BuildArgs, func(a, b encodedArg) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(e.Platforms, func(a, b Platform) int { return strings.Compare(a.Platform, b.Platform) })
	for i, p := range e.Platforms {
		if i > 0 && p.Platform == e.Platforms[i-1].Platform {
			return nil, fmt.Errorf("platform %q is given twice", p.Platform)
		}
		if p.Bases == nil {
			e.Platforms[i].Bases = []Base{}
		}
		for _, b := range p.Bases {
			if !strings.HasPrefix(b.Digest, "sha256:") {
				return nil, fmt.Errorf("base image %s has no sha256 digest", b.Image)
			}
		}
	}
	return json.Marshal(e)
}

// Compute returns the input key of in: "sha256:" and the hex SHA-256 of its canonical encoding.
func Compute(in Inputs) (string, error) {
	data, err := Encode(in)
	if err != nil {
		return "", fmt.Errorf("input key: %w", err)
	}
	return "sha256:" + sum(data), nil
}

// Tag is the tag of the build record of key in the cache repository: TagPrefix and the key's 64
// hex digits.
func Tag(key string) string {
	return TagPrefix + strings.TrimPrefix(key, "sha256:")
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
