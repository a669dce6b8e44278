// Package imageref parses image names as people write them in FleetFlow files
// and on the command line, and resolves the tag to push: --tag, else the tag
// in the image, else "latest". A ":port" after the registry host is not a tag.
//
// The grammar is Docker's reference grammar with one deliberate difference:
// Docker silently turns `myapp` into `docker.io/library/myapp`, an official
// image nobody outside Docker can push to. Here a name that has neither a
// registry host nor a Docker Hub namespace is an error, while
// `myuser/myapp` is a normal Docker Hub repository. Names keep the form the
// user wrote; nothing is expanded, so what we print is what they typed.
package imageref

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// DockerHub is the registry of names without a registry host, and the host
// `docker login` uses when given none.
const DockerHub = "docker.io"

// DefaultTag is pushed when neither --tag nor the image names a tag.
const DefaultTag = "latest"

// MaxNameLength bounds the whole repository name, registry host included,
// as Docker's reference grammar does.
const MaxNameLength = 255

var (
	tagRE       = regexp.MustCompile(buildv1.TagPattern)
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	// A DNS name or a bracketed IPv6 address, with an optional port.
	hostRE = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:]+\])(?::([0-9]+))?$`)
	// Docker's digest grammar: algorithm ":" hex. Anything stricter is the
	// registry's business, not the parser's.
	digestRE       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$`)
	sha256DigestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	digitsRE       = regexp.MustCompile(`^[0-9]+$`)
)

// Reference is a parsed image name.
type Reference struct {
	// Repository is the name as written, without tag or digest:
	// ghcr.io/org/myapp, myuser/myapp, localhost:5000/app.
	Repository string
	// Registry is the registry host (with port, if written), or DockerHub
	// for Docker Hub names, whether written as docker.io, index.docker.io
	// or left out.
	Registry string
	// Path is the repository path inside the registry: org/myapp.
	Path string
	// Tag and Digest are empty when the name has none.
	Tag    string
	Digest string
}

// Parse splits an image name into its parts and validates each of them. Its
// errors are *usererr.Error values naming the problem and how to fix it. A
// name without a registry host or Docker Hub namespace is an error (there is
// nowhere to push it); ParseLocal accepts one.
func Parse(image string) (Reference, error) { return parse(image, false) }

// ParseLocal is Parse for an image that is built but not pushed: a bare
// name such as `myapp` or `myapp:16` is fine, and its Reference has an
// empty Registry.
func ParseLocal(image string) (Reference, error) { return parse(image, true) }

func parse(image string, local bool) (Reference, error) {
	if image == "" {
		return Reference{}, usererr.InvalidImage("", problemEmpty)
	}
	rest := image
	var ref Reference
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		ref.Digest = rest[i+1:]
		rest = rest[:i]
		if !digestRE.MatchString(ref.Digest) {
			return Reference{}, usererr.InvalidImage(image, problemBadDigest(ref.Digest))
		}
	}
	// A colon after the last slash starts the tag; one before it belongs
	// to the registry host's port (localhost:5000/app has no tag).
	hasTag := false
	if c := strings.LastIndexByte(rest, ':'); c > strings.LastIndexByte(rest, '/') {
		ref.Tag, rest, hasTag = rest[c+1:], rest[:c], true
	}
	if rest == "" {
		return Reference{}, usererr.InvalidImage(image, problemEmpty)
	}

	if !strings.Contains(rest, "/") {
		// `localhost:5000` and `ghcr.io` are registries without a
		// repository; saying "add a registry" would confuse. A port needs a
		// host name before it: `myapp:16` is the image myapp with tag 16.
		if rest == "localhost" || strings.Contains(rest, ".") && (!hasTag || digitsRE.MatchString(ref.Tag)) {
			return Reference{}, usererr.InvalidImage(image, problemHostOnly(image), remedyHostOnly(image))
		}
		if !local {
			return Reference{}, usererr.NoRegistry(image)
		}
		ref.Repository, ref.Path = rest, rest
		if err := checkPath(image, ref); err != nil {
			return Reference{}, err
		}
		if hasTag {
			if err := ValidateTag(ref.Tag); err != nil {
				return Reference{}, withTarget(err, ref.Repository)
			}
		}
		return ref, nil
	}

	first, after, _ := strings.Cut(rest, "/")
	if isHost(first) {
		ref.Registry, ref.Path = first, after
		if err := checkHost(image, first); err != nil {
			return Reference{}, err
		}
	} else {
		ref.Registry, ref.Path = DockerHub, rest
	}
	ref.Repository = rest
	if err := checkPath(image, ref); err != nil {
		return Reference{}, err
	}
	if n := len(ref.Repository); n > MaxNameLength {
		return Reference{}, usererr.InvalidImage(image, problemTooLong(n))
	}
	if hasTag {
		if err := ValidateTag(ref.Tag); err != nil {
			return Reference{}, withTarget(err, ref.Repository)
		}
	}
	if ref.Registry == "index.docker.io" {
		ref.Registry = DockerHub
	}

	// The push itself goes through go-containerregistry; a name it would
	// refuse must not pass here. Our grammar is the stricter one, so this
	// is a guard against the two drifting apart rather than a check users
	// are expected to hit.
	check := ref.Repository
	if hasTag {
		check += ":" + ref.Tag
	}
	if _, err := name.NewTag(check); err != nil {
		msg := err.Error()
		return Reference{}, usererr.InvalidImage(image, usererr.Text{En: msg, Ja: msg})
	}
	return ref, nil
}

// isHost tells a registry host from the first path component the way Docker
// does: a host contains a dot or a colon (a port, or IPv6) or is localhost.
func isHost(s string) bool {
	return s == "localhost" || strings.ContainsAny(s, ".:")
}

func checkHost(image, host string) error {
	m := hostRE.FindStringSubmatch(host)
	if m == nil {
		if strings.Count(host, ":") > 1 && !strings.HasPrefix(host, "[") {
			return usererr.InvalidImage(image, problemUnbracketedIPv6(host))
		}
		return usererr.InvalidImage(image, problemBadHost(host))
	}
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if ip := net.ParseIP(host[1:end]); ip == nil {
			return usererr.InvalidImage(image, problemBadHost(host))
		}
	}
	if port := m[1]; port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return usererr.InvalidImage(image, problemBadPort(host, port))
		}
	}
	return nil
}

func checkPath(image string, ref Reference) error {
	path := ref.Path
	if path == "" || strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") || strings.Contains(path, "//") {
		return usererr.InvalidImage(image, problemEmptyComponent(path))
	}
	if strings.ToLower(path) != path {
		return usererr.InvalidImage(image, problemUppercase(path), remedyLowercase(ref))
	}
	var bad []string
	seen := map[rune]bool{}
	for _, r := range path {
		ok := r == '/' || r == '.' || r == '_' || r == '-' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9')
		if !ok && !seen[r] {
			seen[r] = true
			bad = append(bad, strconv.Quote(string(r)))
		}
	}
	if len(bad) > 0 {
		return usererr.InvalidImage(image, problemBadChars(path, bad), remedyPathGrammar)
	}
	for _, c := range strings.Split(path, "/") {
		if !componentRE.MatchString(c) {
			return usererr.InvalidImage(image, problemBadComponent(c), remedyPathGrammar)
		}
	}
	return nil
}

// ParseRepository parses a repository name: an image name without tag or
// digest, as in ImageBuild's spec.image.
func ParseRepository(repo string) (Reference, error) {
	ref, err := Parse(repo)
	if err != nil {
		return Reference{}, err
	}
	if ref.Digest != "" {
		return Reference{}, usererr.InvalidImage(repo, problemDigestInRepository(ref.Digest), remedyNoTagInRepository(ref.Repository))
	}
	if ref.Tag != "" {
		return Reference{}, usererr.InvalidImage(repo, problemTagInRepository(ref.Tag), remedyNoTagInRepository(ref.Repository))
	}
	return ref, nil
}

// ValidateRepository reports whether repo is a valid repository name to push
// to: lowercase, Docker reference grammar, a registry host or a Docker Hub
// namespace, and no tag or digest.
func ValidateRepository(repo string) error {
	_, err := ParseRepository(repo)
	return err
}

// ValidateTag checks tag against the API's tag grammar, buildv1.TagPattern. The error
// is the invalid-tag error a user sees, naming the offending characters; its
// Target is empty, for the caller to fill in when it knows the repository.
func ValidateTag(tag string) error {
	if tagRE.MatchString(tag) {
		return nil
	}
	return usererr.InvalidTag("", tag)
}

// withTarget names the repository a tag error is about; ValidateTag alone
// cannot know it.
func withTarget(err error, target string) error {
	var ue *usererr.Error
	if errors.As(err, &ue) && ue.Target == "" {
		ue.Target = target
	}
	return err
}

// ValidateDigest checks that d is a sha256 digest in canonical form, the only
// kind Kaniko reports and the only kind ImageBuild records.
func ValidateDigest(d string) error {
	if sha256DigestRE.MatchString(d) {
		return nil
	}
	return fmt.Errorf("invalid digest %q: want \"sha256:\" followed by 64 lowercase hex digits", d)
}

// Target is where one image is pushed: a repository and the tags that all
// point at the one digest the build pushes.
type Target struct {
	// Repository is the repository as written, without tag.
	Repository string
	// Tags are the tags pushed, without repeats; the first is the primary tag
	// (ImageBuild's status.output.image). There is always at least one.
	Tags []string
	// Registry is the registry host; DockerHub for Docker Hub; empty for a
	// local name (ResolveLocal), which is built but never pushed.
	Registry string
}

// Resolve returns the push target for an image name and the --tag flags:
// flagTags when any are given (in order, repeats dropped), else the image's
// own tag, else "latest". A digest in the image is an error: a push creates
// tags, it cannot write to a digest.
func Resolve(image string, flagTags ...string) (Target, error) {
	return resolve(image, false, flagTags)
}

// ResolveLocal is Resolve for an image that is built and not pushed: the
// name may lack a registry (`myapp`, `myapp:16`).
func ResolveLocal(image string, flagTags ...string) (Target, error) {
	return resolve(image, true, flagTags)
}

func resolve(image string, local bool, flagTags []string) (Target, error) {
	ref, err := parse(image, local)
	if err != nil {
		return Target{}, err
	}
	if ref.Digest != "" {
		return Target{}, usererr.InvalidImage(image, problemDigestForPush(ref.Digest), remedyDigestForPush(ref.Repository, ref.Digest))
	}
	var tags []string
	for _, tag := range flagTags {
		if err := ValidateTag(tag); err != nil {
			return Target{}, withTarget(err, ref.Repository)
		}
		if !slices.Contains(tags, tag) {
			tags = append(tags, tag)
		}
	}
	switch {
	case len(tags) > 0:
	case ref.Tag != "":
		tags = []string{ref.Tag}
	default:
		tags = []string{DefaultTag}
	}
	return Target{Repository: ref.Repository, Tags: tags, Registry: ref.Registry}, nil
}

// Tag is the primary tag.
func (t Target) Tag() string { return t.Tags[0] }

// Local reports a name without a registry, which can be built but not pushed.
func (t Target) Local() bool { return t.Registry == "" }

// CanonicalRepository is the repository with Docker's implicit parts
// written out for a local name (`myapp` → `docker.io/library/myapp`), the
// form every tool reads the same way; other names are returned as written.
func (t Target) CanonicalRepository() string {
	if t.Local() {
		return DockerHub + "/library/" + t.Repository
	}
	return t.Repository
}

// Image is the name with the primary tag, repo:tag, as printed in
// `✓ api: ghcr.io/org/myapp:v1.2.0`.
func (t Target) Image() string { return t.Repository + ":" + t.Tag() }

// Images are the names with every tag, primary first.
func (t Target) Images() []string {
	out := make([]string, len(t.Tags))
	for i, tag := range t.Tags {
		out[i] = t.Repository + ":" + tag
	}
	return out
}

// String is Image.
func (t Target) String() string { return t.Image() }

// Reference is the target's primary tag as a go-containerregistry tag, for pushing.
func (t Target) Reference() (name.Tag, error) { return name.NewTag(t.Image()) }

// RepoWithDigest is the by-digest name repo@sha256:…, the form that always
// names the same image (ImageBuild's status.output.imageRef, source bundles).
func RepoWithDigest(repo, digest string) string { return repo + "@" + digest }
