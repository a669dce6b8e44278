package v1alpha1

import (
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The grammars and limits of ImageBuildSpec fields that Go code needs as well as the CRD. The
// validation markers on the types repeat them literally, since markers cannot name a constant;
// tests keep the two equal, and Validate applies them the way the API server does.
const (
	// BuildArgNamePattern is the grammar of spec.buildArgs[].name: an ARG name.
	BuildArgNamePattern = `^[A-Za-z_][A-Za-z0-9_]*$`
	// MaxBuildArgNameLength, MaxBuildArgValueLength and MaxBuildArgs bound spec.buildArgs.
	MaxBuildArgNameLength  = 128
	MaxBuildArgValueLength = 4096
	MaxBuildArgs           = 64
	// TargetPattern is the grammar of spec.target: a Dockerfile stage name.
	TargetPattern = `^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	// MaxTargetLength bounds spec.target.
	MaxTargetLength = 128
	// MaxTags bounds spec.tags.
	MaxTags = 16
	// MaxPlatforms and MaxPlatformLength bound spec.platforms.
	MaxPlatforms      = 8
	MaxPlatformLength = 32
	// RepositoryPattern and RegistryOnlyRepositoryPattern are the two forms of spec.image: a
	// registry host (optional) and at least two path components, or a registry host and one.
	RepositoryPattern             = `^((localhost|\[[0-9a-fA-F:]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:[0-9]+)?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)+$`
	RegistryOnlyRepositoryPattern = `^(localhost|\[[0-9a-fA-F:]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+:[0-9]+)(:[0-9]+)?/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*$`
)

var (
	tagRE          = regexp.MustCompile(TagPattern)
	buildArgNameRE = regexp.MustCompile(BuildArgNamePattern)
	targetRE       = regexp.MustCompile(TargetPattern)
	repositoryRE   = regexp.MustCompile(RepositoryPattern)
	registryRepoRE = regexp.MustCompile(RegistryOnlyRepositoryPattern)
	trailingTagRE  = regexp.MustCompile(`/[^/]*:[^/]*$`)
	dotDotRE       = regexp.MustCompile(`(^|/)\.\.(/|$)`)
	platformRE     = regexp.MustCompile(PlatformPattern)
	bundleRefRE    = regexp.MustCompile(`^[^@\s]+@sha256:[a-f0-9]{64}$`)
)

// Validate checks the spec with the rules the CRD gives the API server (its schema's types,
// lengths, patterns and list types, and its CEL rules), so that Go code can refuse what the API
// server would refuse before anything is sent or written: `flow build -o yaml` renders no manifest
// that `kubectl apply` would reject. Defaults the API server fills in (push, dockerfile, timeout)
// are not assumed: an empty dockerfile or a nil timeout is valid. The messages are the CRD's.
func (s *ImageBuildSpec) Validate() field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")

	img := spec.Child("image")
	switch n := utf8.RuneCountInString(s.Image); {
	case n < 3:
		errs = append(errs, field.Invalid(img, s.Image, "should be at least 3 chars long"))
	case n > 255:
		errs = append(errs, field.TooLong(img, s.Image, 255))
	}
	if !strings.Contains(s.Image, "/") {
		errs = append(errs, field.Invalid(img, s.Image, "spec.image has no registry: use a registry host and path such as ghcr.io/org/app, or a Docker Hub namespace/name such as myuser/app"))
	}
	if strings.Contains(s.Image, "@") {
		errs = append(errs, field.Invalid(img, s.Image, "spec.image must not contain a digest: the digest is an output, found in status.output.digest"))
	}
	if trailingTagRE.MatchString(s.Image) {
		errs = append(errs, field.Invalid(img, s.Image, "spec.image must not contain a tag: put tags in spec.tags"))
	}
	if !repositoryRE.MatchString(s.Image) && !registryRepoRE.MatchString(s.Image) {
		errs = append(errs, field.Invalid(img, s.Image, "spec.image is not a valid repository name: path components are lowercase letters, digits and separators (. _ __ -), for example ghcr.io/org/my-app"))
	}

	tags := spec.Child("tags")
	switch {
	case len(s.Tags) == 0:
		errs = append(errs, field.Required(tags, "at least 1 tag"))
	case len(s.Tags) > MaxTags:
		errs = append(errs, field.TooMany(tags, len(s.Tags), MaxTags))
	}
	seenTags := map[string]bool{}
	for i, tag := range s.Tags {
		p := tags.Index(i)
		if utf8.RuneCountInString(tag) > 128 {
			errs = append(errs, field.TooLong(p, tag, 128))
		}
		if !tagRE.MatchString(tag) {
			errs = append(errs, field.Invalid(p, tag, "should match '"+TagPattern+"'"))
		}
		if seenTags[tag] {
			errs = append(errs, field.Duplicate(p, tag))
		}
		seenTags[tag] = true
	}

	plats := spec.Child("platforms")
	if len(s.Platforms) > MaxPlatforms {
		errs = append(errs, field.TooMany(plats, len(s.Platforms), MaxPlatforms))
	}
	// The CRD's rule: linux/arm64 and linux/arm64/v8 are one platform.
	sameArm64 := func(p string) string {
		if strings.HasSuffix(p, "/arm64/v8") {
			return p[:len(p)-3]
		}
		return p
	}
	seenPlatforms := map[string]bool{}
	for i, p := range s.Platforms {
		fp := plats.Index(i)
		if utf8.RuneCountInString(p) > MaxPlatformLength {
			errs = append(errs, field.TooLong(fp, p, MaxPlatformLength))
		}
		if !platformRE.MatchString(p) {
			errs = append(errs, field.Invalid(fp, p, "spec.platforms entries are os/arch or os/arch/variant with os linux (Kaniko builds Linux images), such as linux/amd64, linux/arm64 or linux/arm/v7"))
		}
		if seenPlatforms[sameArm64(p)] {
			errs = append(errs, field.Duplicate(fp, p))
		}
		seenPlatforms[sameArm64(p)] = true
	}

	errs = append(errs, s.Source.validate(spec.Child("source"))...)

	if s.Dockerfile != "" {
		p := spec.Child("dockerfile")
		if utf8.RuneCountInString(s.Dockerfile) > 1024 {
			errs = append(errs, field.TooLong(p, s.Dockerfile, 1024))
		}
		if !relativeInside(s.Dockerfile) {
			errs = append(errs, field.Invalid(p, s.Dockerfile, "spec.dockerfile must be a relative path inside the build context, without '..'"))
		}
	}
	if s.Target != "" {
		p := spec.Child("target")
		if utf8.RuneCountInString(s.Target) > MaxTargetLength {
			errs = append(errs, field.TooLong(p, s.Target, MaxTargetLength))
		}
		if !targetRE.MatchString(s.Target) {
			errs = append(errs, field.Invalid(p, s.Target, "should match '"+TargetPattern+"'"))
		}
	}

	args := spec.Child("buildArgs")
	if len(s.BuildArgs) > MaxBuildArgs {
		errs = append(errs, field.TooMany(args, len(s.BuildArgs), MaxBuildArgs))
	}
	seenArgs := map[string]bool{}
	for i, a := range s.BuildArgs {
		p := args.Index(i)
		if utf8.RuneCountInString(a.Name) > MaxBuildArgNameLength {
			errs = append(errs, field.TooLong(p.Child("name"), a.Name, MaxBuildArgNameLength))
		}
		if !buildArgNameRE.MatchString(a.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), a.Name, "should match '"+BuildArgNamePattern+"'"))
		}
		if utf8.RuneCountInString(a.Value) > MaxBuildArgValueLength {
			errs = append(errs, field.TooLong(p.Child("value"), "", MaxBuildArgValueLength))
		}
		if seenArgs[a.Name] {
			errs = append(errs, field.Duplicate(p, a.Name))
		}
		seenArgs[a.Name] = true
	}

	if c := s.Cache; c != nil && c.Repository != "" {
		p := spec.Child("cache", "repository")
		if utf8.RuneCountInString(c.Repository) > 255 {
			errs = append(errs, field.TooLong(p, c.Repository, 255))
		}
		if !strings.Contains(c.Repository, "/") || strings.Contains(c.Repository, "@") || trailingTagRE.MatchString(c.Repository) {
			errs = append(errs, field.Invalid(p, c.Repository, "spec.cache.repository must be a repository without tag or digest, such as ghcr.io/org/app/cache"))
		}
		if !s.Push {
			errs = append(errs, field.Invalid(spec, "", "spec.cache.repository needs spec.push: true, because the layer cache lives in a registry; remove spec.cache.repository or set push to true"))
		}
	}
	if r := s.PushSecretRef; r != nil {
		p := spec.Child("pushSecretRef", "name")
		switch n := utf8.RuneCountInString(r.Name); {
		case n < 1:
			errs = append(errs, field.Required(p, ""))
		case n > 253:
			errs = append(errs, field.TooLong(p, r.Name, 253))
		}
	}
	if utf8.RuneCountInString(s.ServiceAccountName) > 253 {
		errs = append(errs, field.TooLong(spec.Child("serviceAccountName"), s.ServiceAccountName, 253))
	}
	if s.Timeout != nil && (s.Timeout.Duration < 10*time.Second || s.Timeout.Duration > 24*time.Hour) {
		errs = append(errs, field.Invalid(spec.Child("timeout"), s.Timeout.Duration.String(), "spec.timeout must be between 10s and 24h"))
	}
	if s.TTLSecondsAfterFinished != nil && *s.TTLSecondsAfterFinished < 0 {
		errs = append(errs, field.Invalid(spec.Child("ttlSecondsAfterFinished"), *s.TTLSecondsAfterFinished, "should be greater than or equal to 0"))
	}
	return errs
}

func (b *BuildSource) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if (b.Bundle == nil) == (b.Git == nil) {
		errs = append(errs, field.Invalid(p, "", "spec.source needs exactly one of bundle or git"))
	}
	if b.Bundle != nil {
		bp := p.Child("bundle", "image")
		if utf8.RuneCountInString(b.Bundle.Image) > 512 {
			errs = append(errs, field.TooLong(bp, b.Bundle.Image, 512))
		}
		if !bundleRefRE.MatchString(b.Bundle.Image) {
			errs = append(errs, field.Invalid(bp, b.Bundle.Image, "spec.source.bundle.image must reference the bundle by digest (repository@sha256:<64 hex digits>), never by tag"))
		}
	}
	if g := b.Git; g != nil {
		gp := p.Child("git")
		switch n := utf8.RuneCountInString(g.URL); {
		case n < 1:
			errs = append(errs, field.Required(gp.Child("url"), ""))
		case n > 2048:
			errs = append(errs, field.TooLong(gp.Child("url"), g.URL, 2048))
		}
		if !strings.HasPrefix(g.URL, "https://") && !strings.HasPrefix(g.URL, "http://") {
			errs = append(errs, field.Invalid(gp.Child("url"), g.URL, "spec.source.git.url must be an http(s) URL such as https://github.com/org/repo.git"))
		}
		if utf8.RuneCountInString(g.Revision) > 256 {
			errs = append(errs, field.TooLong(gp.Child("revision"), g.Revision, 256))
		}
		if g.Ref != "" {
			if utf8.RuneCountInString(g.Ref) > 256 {
				errs = append(errs, field.TooLong(gp.Child("ref"), g.Ref, 256))
			}
			if !GitRefRE.MatchString(g.Ref) {
				errs = append(errs, field.Invalid(gp.Child("ref"), g.Ref, "spec.source.git.ref must be a full branch or tag ref such as refs/heads/main or refs/tags/v1.2.0"))
			}
			if !GitCommitRE.MatchString(g.Revision) {
				errs = append(errs, field.Invalid(gp, "", "spec.source.git.ref is the branch or tag a pinned commit was taken from: set spec.source.git.revision to that full 40-character commit SHA, or drop ref and put the branch or tag name in revision"))
			}
		}
		if g.SecretRef != nil {
			switch n := utf8.RuneCountInString(g.SecretRef.Name); {
			case n < 1:
				errs = append(errs, field.Required(gp.Child("secretRef", "name"), ""))
			case n > 253:
				errs = append(errs, field.TooLong(gp.Child("secretRef", "name"), g.SecretRef.Name, 253))
			}
		}
		if g.SubPath != "" {
			if utf8.RuneCountInString(g.SubPath) > 1024 {
				errs = append(errs, field.TooLong(gp.Child("subPath"), g.SubPath, 1024))
			}
			if !relativeInside(g.SubPath) {
				errs = append(errs, field.Invalid(gp.Child("subPath"), g.SubPath, "spec.source.git.subPath must be a relative path inside the repository, without '..'"))
			}
		}
	}
	return errs
}

// GitCommitRE is a full commit SHA, the only revision that pins a build; GitRefRE the grammar of
// spec.source.git.ref.
var (
	GitCommitRE = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)
	GitRefRE    = regexp.MustCompile(`^refs/(heads|tags)/[^#[:space:]]+$`)
)

// relativeInside is the CRD's rule for paths inside a context: not absolute, no `..` component.
func relativeInside(p string) bool {
	return !strings.HasPrefix(p, "/") && !dotDotRE.MatchString(p)
}
