package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/imageref"
	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/registryauth"
	"github.com/fleetflow/flow-build/internal/usererr"
	"github.com/fleetflow/flow-build/internal/version"
)

// buildOptions is `flow build` in kubectl's shape: flags and arguments are gathered by Complete,
// checked by Validate, and carried out by Run. Every failure of Run comes back as an error, which
// the root command reports once.
type buildOptions struct {
	env Env

	push       bool
	tags       []string
	platforms  []string
	noCache    bool
	services   []string
	registry   string
	pushSecret string
	timeout    time.Duration
	ttl        time.Duration
	wait       bool
	noWait     bool
	file       string
	output     string
	source     string
	bundleRepo string
	verbose    bool
	kube       kubeFlags

	// Set by Complete.
	stage       string
	onlyService []string // services asked for by name (-s, or the SERVICE argument)
}

func newBuildCommand(env Env) *cobra.Command {
	o := &buildOptions{env: env}
	cmd := &cobra.Command{
		Use:   "build [flags] [SERVICE] STAGE",
		Short: "Build the services of a stage in the cluster, and push them with --push",
		Long: `Build every service of STAGE that has a Dockerfile (or only SERVICE, or the services named
with -s) inside the Kubernetes cluster, one ImageBuild per service, all in parallel.

Each build context is packed (honouring .dockerignore) and pushed to the image's repository
by digest; Kaniko builds it in the cluster and pushes the image. Registry credentials are
found like the Docker CLI finds them (docker login, DOCKER_CONFIG, credential helpers) or in
DOCKER_USERNAME and DOCKER_PASSWORD.

Tags: --tag beats the tag written in the service's image, which beats "latest". Repeat --tag to
push several tags: every tag points at the same image digest.

Platforms: --platform linux/amd64,linux/arm64 (or the service's platform/platforms in the config)
builds each platform in its own Kaniko pod, in parallel, on nodes of that architecture or, where
the cluster allows it, under emulation, and pushes one image index holding them all.`,
		Example: `  # Build and push every service of stage prod with tag v1.2.0
  flow build --push --tag v1.2.0 prod

  # Several tags of the same image
  flow build --push --tag v1.2.0 --tag latest prod

  # An image for amd64 and arm64 machines
  flow build --push --platform linux/amd64,linux/arm64 prod

  # Only the api service
  flow build --push api prod

  # Render the ImageBuilds for a GitOps repository instead of creating them
  flow build --push --tag v1.2.0 --source git -o yaml prod > imagebuilds.yaml`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Complete(cmd, args)
			if err := o.Validate(); err != nil {
				return err
			}
			return runFailure(o.Run(cmd.Context()))
		},
		ValidArgsFunction: o.complete,
	}
	f := cmd.Flags()
	f.BoolVar(&o.push, "push", false, "push the built images to their registries")
	f.StringArrayVar(&o.tags, "tag", nil, "image tag; repeat it to push several tags of the one image (default: the tag in the service's image, else latest)")
	f.StringArrayVar(&o.platforms, "platform", nil, "build for these platforms, comma-separated or repeated (linux/amd64,linux/arm64): one image index with an image per platform (default: the service's platform(s) in the config, else one image for the cluster node that builds it)")
	f.BoolVar(&o.noCache, "no-cache", false, "build without Kaniko's layer cache")
	f.StringArrayVarP(&o.services, "service", "s", nil, "build only this service (repeatable)")
	f.StringVar(&o.registry, "registry", "", "registry for services without an image: images become <registry>/<project>-<service>")
	f.StringVar(&o.pushSecret, "push-secret", "", "kubernetes.io/dockerconfigjson Secret the builds use (default: forward your local credentials for the build's registry)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Minute, "time limit of each build")
	f.DurationVar(&o.ttl, "ttl", 24*time.Hour, "delete finished ImageBuilds after this long (0 keeps them)")
	f.BoolVar(&o.wait, "wait", true, "wait for the builds and show their progress")
	f.BoolVar(&o.noWait, "no-wait", false, "create the builds and return at once")
	f.StringVarP(&o.file, "file", "f", "", "FleetFlow config file (default: $FLEETFLOW_CONFIG_PATH, else .fleetflow/fleet.kdl, fleet.kdl or flow.kdl found from the working directory up)")
	f.StringVarP(&o.output, "output", "o", "", "print the ImageBuild manifests as yaml or json for GitOps and create nothing in the cluster")
	f.StringVar(&o.source, "source", "bundle", "how the cluster gets the build context: bundle (pack and push it) or git (the checkout's remote and HEAD commit)")
	f.StringVar(&o.bundleRepo, "bundle-repository", "", "repository for source bundles (default: each image's own repository)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print what flow resolves and every registry request (credentials are never printed)")
	o.kube.bind(f)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("source", cobra.FixedCompletions([]string{"bundle", "git"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete fills in what the flags and arguments leave to be worked out: the stage, the services
// asked for, and --no-wait's say over --wait.
func (o *buildOptions) Complete(cmd *cobra.Command, args []string) {
	if cmd.Flags().Changed("no-wait") {
		o.wait = !o.noWait
	}
	o.stage = args[len(args)-1]
	var platforms []string
	for _, p := range o.platforms {
		platforms = append(platforms, fleetconfig.SplitList(p)...)
	}
	o.platforms = platforms
	o.onlyService = slices.Clone(o.services)
	if len(args) == 2 {
		o.onlyService = append(o.onlyService, args[0])
	}
}

// Validate checks the flags on their own, before anything is read or contacted. Its errors are
// errors of the command line (exit status 2).
func (o *buildOptions) Validate() error {
	switch {
	case o.output != "" && o.output != "yaml" && o.output != "json":
		return fmt.Errorf("--output %q: use yaml or json", o.output)
	case o.source != "bundle" && o.source != "git":
		return fmt.Errorf("--source %q: use bundle or git", o.source)
	case o.timeout < 10*time.Second || o.timeout > 24*time.Hour:
		return fmt.Errorf("--timeout %s: use a duration between 10s and 24h", o.timeout)
	}
	if _, err := platform.ParseList(o.platforms); err != nil {
		return fmt.Errorf("--platform: %w", err)
	}
	return nil
}

// Run builds the stage: it reads the config, checks every build, asks the cluster to validate the
// ImageBuilds, checks push access, uploads the build contexts, then creates the ImageBuilds (or
// renders them) and follows them. Nothing is pushed or created before every check has passed.
func (o *buildOptions) Run(ctx context.Context) error {
	if o.verbose {
		// go-containerregistry logs each request with Authorization headers and token bodies
		// replaced by "<redacted>".
		logs.Debug.SetOutput(o.env.Stderr)
		logs.Debug.SetPrefix("registry: ")
		logs.Debug.SetFlags(0)
		defer logs.Debug.SetOutput(io.Discard)
	}
	path, err := fleetconfig.Discover(o.file, o.env.WorkDir, o.env.Getenv)
	if err != nil {
		return err
	}
	o.debugf("config: %s", path)
	conf, err := fleetconfig.Load(path, o.env.Getenv)
	if err != nil {
		return err
	}
	plan, err := conf.Resolve(o.stage, fleetconfig.ResolveOptions{Registry: o.registry, Services: o.onlyService, NoCache: o.noCache, Platforms: o.platforms})
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		notef(o.env.Stderr, "warning: %s\n", w)
	}
	targets, errs := o.targets(plan)
	if len(errs) > 0 {
		return problems(errs)
	}
	for _, t := range targets {
		names := make([]string, 0, len(t.build.BuildArgs))
		for _, a := range t.build.BuildArgs {
			names = append(names, a.Name)
		}
		o.debugf("%s: image %s, Dockerfile %s, context %s, target %q, platforms %v, build args %v (values not shown)",
			t.build.Service, strings.Join(t.push.Images(), ", "), t.build.DockerfileRel, t.build.ContextRel, t.build.Target, t.build.Platforms, names)
	}
	out := newOutput(o, plan)
	if len(targets) == 0 {
		out.nothingToBuild(plan)
		return nil
	}
	if o.source == "git" {
		if err := gitSources(ctx, targets); err != nil {
			return err
		}
	}

	runID := newRunID()
	params := manifestParams{
		project: plan.Project, stage: plan.Stage, runID: runID, push: o.push,
		timeout: o.timeout, pushSecret: o.pushSecret, stableNames: o.output != "",
	}
	if o.output == "" {
		params.ttl = o.ttl
	}

	var cl *cluster
	if o.output == "" {
		cl, err = o.kube.connect(o.env)
		if err != nil {
			return err
		}
		params.namespace = cl.namespace
		// Nothing is pushed before the cluster has said it would accept the builds.
		if err := cl.dryRun(ctx, targets, params); err != nil {
			return err
		}
	}

	keychain := registryauth.Keychain(o.env.Getenv)
	if err := o.preflight(ctx, targets, keychain); err != nil {
		return err
	}
	if o.source == "bundle" {
		if err := o.pushBundles(ctx, targets, keychain, out); err != nil {
			return err
		}
	}

	if o.output != "" {
		return render(o.env.Stdout, o.output, targets, params)
	}
	builds, err := cl.create(ctx, targets, params, keychain, o.pushSecret == "")
	if err != nil {
		return err
	}
	for _, ib := range builds {
		secret := "none"
		if ib.Spec.PushSecretRef != nil {
			secret = ib.Spec.PushSecretRef.Name
		}
		o.debugf("created ImageBuild %s/%s (push Secret: %s)", ib.Namespace, ib.Name, secret)
	}
	if !o.wait {
		return out.created(builds, cl.namespace, runID)
	}
	return out.follow(ctx, cl, builds, targets, runID)
}

// debugf prints a note with -v.
func (o *buildOptions) debugf(format string, args ...any) {
	if o.verbose {
		notef(o.env.Stderr, "flow: "+format+"\n", args...)
	}
}

// targets validates every build of the plan and reports all problems at once, so that one run of
// `flow build` shows everything to fix.
func (o *buildOptions) targets(plan *fleetconfig.Plan) ([]*target, []error) {
	var targets []*target
	var errs []error
	var badTags []error
	for _, tag := range o.tags {
		if err := imageref.ValidateTag(tag); err != nil {
			// One block per bad flag, naming every image it would have tagged.
			var repos []string
			for _, b := range plan.Builds {
				if ref, perr := imageref.Parse(b.Image); perr == nil {
					repos = append(repos, ref.Repository)
				}
			}
			badTags = append(badTags, usererr.InvalidTag(strings.Join(repos, ", "), tag))
		}
	}
	if len(badTags) > 0 {
		return nil, badTags
	}
	for _, b := range plan.Builds {
		if b.Image == "" {
			errs = append(errs, usererr.NoRegistry(plan.Project+"-"+b.Service).WithDetail(fmt.Sprintf(
				"service %q has no image, and no registry is set (use --registry, or `registry \"ghcr.io/org\"` in the config)", b.Service)))
			continue
		}
		push, err := imageref.Resolve(b.Image, o.tags...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t := &target{build: b, push: push, bundleRepo: push.Repository}
		if o.bundleRepo != "" {
			if err := imageref.ValidateRepository(o.bundleRepo); err != nil {
				return nil, append(errs, err)
			}
			t.bundleRepo = o.bundleRepo
		}
		targets = append(targets, t)
	}
	return targets, errs
}

// preflight checks, before anything is pushed or created, that the credentials may push to every
// repository the run writes to: an authentication error belongs before the build, not minutes
// into it.
func (o *buildOptions) preflight(ctx context.Context, targets []*target, kc authn.Keychain) error {
	repos := map[string]bool{}
	for _, t := range targets {
		if o.push {
			repos[t.push.Repository] = true
		}
		if o.source == "bundle" {
			repos[t.bundleRepo] = true
		}
	}
	var opts []registryauth.Option
	if o.env.Transport != nil {
		opts = append(opts, registryauth.WithTransport(o.env.Transport))
	}
	return parallel(ctx, sortedKeys(repos), func(ctx context.Context, repo string) error {
		return registryauth.CheckPush(ctx, repo, kc, opts...)
	})
}

func (o *buildOptions) remoteOptions(ctx context.Context, kc authn.Keychain) []remote.Option {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithUserAgent("flow-build/" + version.Version),
	}
	if o.env.Transport != nil {
		opts = append(opts, remote.WithTransport(o.env.Transport))
	}
	return opts
}

// pushBundles packs and pushes every build context, in parallel.
func (o *buildOptions) pushBundles(ctx context.Context, targets []*target, kc authn.Keychain, out *output) error {
	return parallel(ctx, targets, func(ctx context.Context, t *target) error {
		start := time.Now()
		img, stats, err := bundle.Build(bundle.PackOptions{ContextDir: t.build.Context, Dockerfile: t.build.Dockerfile})
		if err != nil {
			return fmt.Errorf("packing the build context of %s (%s): %w", t.build.Service, t.build.ContextRel, err)
		}
		t.dockerfile = stats.DockerfilePath
		ref, uploaded, err := bundle.Push(ctx, t.bundleRepo, img, o.remoteOptions(ctx, kc)...)
		if err != nil {
			return usererr.PushFailed(t.bundleRepo, fmt.Sprintf("uploading the build context of %s: %v", t.build.Service, err))
		}
		t.bundleRef = ref
		o.debugf("%s: source bundle %s", t.build.Service, ref)
		out.uploaded(t, stats, uploaded, time.Since(start))
		return nil
	})
}

// maxParallel bounds the registry checks and bundle uploads under way at once: each upload holds a
// packed build context, and a stage of many services must not hold them all.
const maxParallel = 8

// parallel runs fn for every item, at most maxParallel at a time. The first failure cancels the
// context of the calls under way and keeps the remaining ones from starting; it is the error
// returned, since the others only followed from the cancellation.
func parallel[T any](ctx context.Context, items []T, fn func(context.Context, T) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallel)
	for _, it := range items {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fn(ctx, it)
		})
	}
	return g.Wait()
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// complete offers the stages and services of the config for shell completion.
func (o *buildOptions) complete(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	path, err := fleetconfig.Discover(o.file, o.env.WorkDir, o.env.Getenv)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	conf, err := fleetconfig.Load(path, o.env.Getenv)
	if err != nil || len(args) > 1 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	candidates := conf.Stages()
	if len(args) == 0 {
		candidates = append(candidates, conf.Services()...)
	}
	return candidates, cobra.ShellCompDirectiveNoFileComp
}

// relSlash is rel as a slash-separated path ("" for the same folder).
func relSlash(base, p string) (string, error) {
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return "", nil
	}
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errors.New("outside")
	}
	return filepath.ToSlash(rel), nil
}
