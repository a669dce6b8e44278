package fleetconfig

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fleetflow/flow-build/internal/platform"
)

// ResolveOptions are the CLI's inputs to Resolve.
type ResolveOptions struct {
	// Registry is --registry; it beats every registry of the config.
	Registry string
	// Services restricts the plan to these services of the stage; empty means all of them.
	Services []string
	// NoCache is --no-cache; it turns caching off for every build, whatever the config says.
	NoCache bool
	// Platforms is --platform; when set it replaces every service's own platforms.
	Platforms []string
}

// Plan is what `flow build STAGE` has to do.
type Plan struct {
	// Project is the project name, used in derived image names.
	Project string
	// Stage is the stage resolved.
	Stage string
	// Builds are the services to build, sorted by service name.
	Builds []Build
	// Skipped are services of the stage that are not built because they have no Dockerfile
	// (FleetFlow pulls their image instead), sorted by service name.
	Skipped []Skipped
	// Warnings are problems that do not stop the build, such as a build arg that looks like a
	// secret. They never contain build-arg values.
	Warnings []string
}

// Build is one service to build, with every path resolved and checked.
type Build struct {
	// Service is the service name.
	Service string
	// Image is the image as configured, or `<registry>/<project>-<service>` when the service
	// has no image and a registry applies; it may carry a tag. "" when there is neither: the
	// caller reports that the image has no registry.
	Image string
	// Registry is the registry that applies to this service (--registry, then the service's,
	// the stage's and the top-level one), or "".
	Registry string
	// Dockerfile is the absolute path of the Dockerfile, symbolic links resolved.
	Dockerfile string
	// DockerfileRel is Dockerfile relative to the project root, for display: "./services/api/Dockerfile".
	DockerfileRel string
	// Context is the absolute path of the build context folder, symbolic links resolved.
	Context string
	// ContextRel is Context relative to the project root, for display: "." for the root
	// itself, otherwise like "./services/api".
	ContextRel string
	// Target is the Dockerfile stage to build (`target`), or "" for the last one.
	Target string
	// BuildArgs are the build args sorted by name, with `{VAR}` expanded from the variables.
	BuildArgs []BuildArg
	// NoCache is set by the service's `no_cache #true` or by ResolveOptions.NoCache.
	NoCache bool
	// Platforms are the platforms to build ("linux/amd64", "linux/arm64"), from --platform or the
	// service's `platform`/`platforms`; empty builds one image for whichever node builds it.
	Platforms []string
}

// BuildArg is one `--build-arg NAME=VALUE`.
type BuildArg struct{ Name, Value string }

// Skipped is a service of the stage that is not built, and why.
type Skipped struct{ Service, Reason string }

// ReasonNoDockerfile is the Skipped.Reason of a service without a Dockerfile.
const ReasonNoDockerfile = "no Dockerfile: pulled image"

// Resolve computes the build plan of a stage. The stage's `service` entries choose the services;
// a stage that lists none stands for every service of the config, so that a small project can
// write `stage "dev" {}` (FleetFlow itself would build nothing for it, which is never what
// `flow build dev` is asked for). For each service, the stage's block for it overrides its fields
// and the stage's variables override the top-level ones.
//
// Every problem of the stage is reported at once (errors.Join), so a user fixes them in one go;
// nothing is built when there is any.
func (c *Config) Resolve(stage string, opts ResolveOptions) (*Plan, error) {
	st, ok := c.stages[stage]
	if !ok {
		return nil, c.unknownStage(stage)
	}
	names, _ := c.StageServices(stage)
	requested := map[string]bool{}
	if len(opts.Services) > 0 {
		for _, s := range opts.Services {
			if !slices.Contains(names, s) {
				have := strings.Join(names, ", ")
				if have == "" {
					have = "none"
				}
				return nil, fmt.Errorf("%w %q: stage %q has these services: %s", ErrUnknownService, s, stage, have)
			}
			requested[s] = true
		}
		names = slices.Collect(maps.Keys(requested))
	}
	slices.Sort(names)

	vars := map[string]string{}
	maps.Copy(vars, c.Variables)
	maps.Copy(vars, st.variables)

	plan := &Plan{Project: c.Project, Stage: stage}
	var errs []error
	for _, name := range names {
		spec := &serviceSpec{}
		if base, ok := c.services[name]; ok {
			spec.merge(base)
		}
		override, hasOverride := st.overrides[name]
		if hasOverride {
			spec.merge(override)
		}
		if !spec.defined && (!hasOverride || !override.hasBuildSettings() && override.image == nil) {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf(
				"service %q is listed in stage %q but not defined by any service block; check the spelling", name, stage))
		}
		b, err := c.resolveService(name, spec, st, vars, opts, plan)
		switch {
		case err != nil:
			errs = append(errs, err)
		case b == nil && requested[name]:
			errs = append(errs, fmt.Errorf("%w: service %q was asked for but has none (looked for %s in %s); "+
				"add dockerfile \"path/to/Dockerfile\" to the service, or do not ask for it",
				ErrNoDockerfile, name, strings.Join(dockerfileCandidates(name), ", "), c.Root))
		case b == nil:
			plan.Skipped = append(plan.Skipped, Skipped{Service: name, Reason: ReasonNoDockerfile})
			if spec.hasBuildSettings() {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf(
					"service %q has build settings but no Dockerfile (looked for %s); it is not built",
					name, strings.Join(dockerfileCandidates(name), ", ")))
			}
		default:
			plan.Builds = append(plan.Builds, *b)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plan, nil
}

// resolveService returns the build of one service, or nil when it has no Dockerfile.
func (c *Config) resolveService(name string, spec *serviceSpec, st *stageSpec, vars map[string]string,
	opts ResolveOptions, plan *Plan) (*Build, error) {
	dockerfile, err := c.findDockerfile(name, spec)
	if err != nil || dockerfile == "" {
		return nil, err
	}
	context, err := c.resolveContext(name, spec)
	if err != nil {
		return nil, err
	}
	b := &Build{
		Service:       name,
		Registry:      firstNonEmpty(opts.Registry, deref(spec.registry), deref(st.registry), c.Registry),
		Dockerfile:    dockerfile,
		DockerfileRel: c.displayRel(dockerfile),
		Context:       context,
		ContextRel:    c.displayRel(context),
		Target:        deref(spec.target),
		NoCache:       opts.NoCache || (spec.noCache != nil && *spec.noCache),
	}
	b.Platforms = spec.platforms
	if len(opts.Platforms) > 0 {
		b.Platforms = opts.Platforms
	}
	if _, err := platform.ParseList(b.Platforms); err != nil {
		return nil, fmt.Errorf("%w: service %q: %w", ErrInvalidPlatform, name, err)
	}
	switch {
	case deref(spec.image) != "":
		b.Image = *spec.image
	case b.Registry != "":
		b.Image = strings.TrimSuffix(b.Registry, "/") + "/" + c.Project + "-" + name
	}
	for _, k := range slices.Sorted(maps.Keys(spec.buildArgs)) {
		b.BuildArgs = append(b.BuildArgs, BuildArg{Name: k, Value: expandVars(spec.buildArgs[k], vars)})
		if looksSecret(k) {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf(
				"service %q: build arg %s looks like a secret; build args are stored in the image history, "+
					"so pass secrets another way (e.g. a secret mount)", name, k))
		}
	}
	return b, nil
}

func dockerfileCandidates(name string) []string {
	return []string{"services/" + name + "/Dockerfile", name + "/Dockerfile", "Dockerfile." + name}
}

// findDockerfile returns the service's Dockerfile: the configured one, which must exist, or the
// first of FleetFlow's conventional places; "" when there is none.
func (c *Config) findDockerfile(name string, spec *serviceSpec) (string, error) {
	if rel := deref(spec.dockerfile); rel != "" {
		p := absFrom(c.Root, filepath.FromSlash(rel))
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%w: service %q: dockerfile %q does not exist (looked at %s); "+
				"fix the path, which is relative to the project root %s, or create the file",
				ErrDockerfileNotFound, name, rel, p, c.Root)
		}
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("%w: service %q: dockerfile %q (%s) is not a file; name the Dockerfile itself",
				ErrDockerfileNotFound, name, rel, p)
		}
		return c.insideRoot(name, "dockerfile", rel, p)
	}
	for _, cand := range dockerfileCandidates(name) {
		p := filepath.Join(c.Root, filepath.FromSlash(cand))
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return c.insideRoot(name, "dockerfile", cand, p)
		}
	}
	return "", nil
}

// resolveContext returns the service's build context folder: the project root by default.
func (c *Config) resolveContext(name string, spec *serviceSpec) (string, error) {
	rel := deref(spec.context)
	if rel == "" {
		return c.Root, nil
	}
	p := absFrom(c.Root, filepath.FromSlash(rel))
	fi, err := os.Stat(p)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%w: service %q: context %q is not an existing folder (looked at %s); "+
			"fix the path, which is relative to the project root %s",
			ErrContextNotFound, name, rel, p, c.Root)
	}
	return c.insideRoot(name, "context", rel, p)
}

// insideRoot resolves symbolic links in p and checks that the result lies in the project root:
// the context is uploaded to the cluster, and nothing outside the project may leak with it.
func (c *Config) insideRoot(service, field, configured, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("service %q: %s %q: %w", service, field, configured, err)
	}
	rel, err := filepath.Rel(c.Root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w: service %q: %s %q resolves to %s, outside the project root %s; "+
			"only files inside the project are sent to the cluster, so move them into it",
			ErrOutsideProject, service, field, configured, real, c.Root)
	}
	return real, nil
}

// displayRel shows an absolute path inside the project relative to its root, the way the
// output shows paths ("./services/api/Dockerfile", ".").
func (c *Config) displayRel(p string) string {
	rel, err := filepath.Rel(c.Root, p)
	if err != nil {
		return p
	}
	if rel == "." {
		return "."
	}
	return "./" + filepath.ToSlash(rel)
}

// secretWords are the parts of a build-arg name that suggest a secret (FleetFlow's list plus
// common spellings).
var secretWords = []string{"password", "passwd", "token", "secret", "api_key", "apikey", "private_key", "privatekey"}

func looksSecret(name string) bool {
	n := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// SplitList splits platform lists as people write them: "linux/amd64,linux/arm64", with or
// without spaces after the commas. Empty items are dropped.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
