package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/logs"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/imageref"
	"github.com/fleetflow/flow-build/internal/kanikolog"
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
	noCache    bool
	platforms  []string
	registry   string
	pushSecret string
	gitSecret  string
	gitCreds   string
	timeout    time.Duration
	ttl        time.Duration
	wait       bool
	noWait     bool
	file       string
	output     string
	source     string
	bundleRepo string
	verbose    bool
	quiet      bool
	progress   string
	logTail    int
	kube       kubeFlags

	stageSelection

	// Set by Complete.
	lang usererr.Lang
}

func newBuildCommand(env Env) *cobra.Command {
	o := &buildOptions{env: env}
	cmd := &cobra.Command{
		Use:   "build [flags] [[SERVICE] STAGE]",
		Short: "Build the services of a stage in the cluster, and push them with --push",
		Long: `Build the services of a FleetFlow stage inside the Kubernetes cluster, one ImageBuild per
service, all in parallel: every service the stage lists that has build settings or a
Dockerfile (only SERVICE, or the services named with -n, when given).

The stage is the STAGE argument, else -s/--stage, else $FLEET_STAGE, else the stage named
"default", else the only stage of the project. The project is read as FleetFlow reads it:
.fleetflow/fleet.kdl found from the working directory up (or $FLEET_PROJECT_ROOT, -f,
$FLEETFLOW_CONFIG_PATH), services/, stages/ and variables/ beside it, flow.<stage>.kdl and
flow.local.kdl on top, .env files and {{ }} templates.

Each build context is packed (honouring .dockerignore) and pushed to the image's repository
by digest; Kaniko builds it in the cluster and pushes the image. Registry credentials are
found like the Docker CLI finds them (docker login, DOCKER_CONFIG, credential helpers) or in
DOCKER_USERNAME and DOCKER_PASSWORD. Without --push nothing is pushed and the image names need
no registry (the build context still travels through one: see --bundle-repository).

Tags: --tag beats the tag written in the service's image, which beats "latest". Repeat --tag to
push several tags: every tag points at the same image digest.

Platforms: --platform linux/amd64,linux/arm64 (or the service's platform/platforms in the config)
builds each platform in its own Kaniko pod, in parallel, on nodes of that architecture or, where
the cluster allows it, under emulation, and pushes one image index holding them all.

Output: live bars on a terminal, plain lines otherwise (--progress auto); --progress plain also
prints every Dockerfile step and every line the steps print as it happens, led by [service]. A
failed build shows the last lines of its failing step's output under its ✗ line (--log-tail,
20 by default); flow logs shows a build's whole output, also later.

-n is FleetFlow's --service, as in fleet build; the Kubernetes namespace is --namespace
(no short form). Messages are in Japanese unless LC_ALL, LC_MESSAGES or LANG ask for English.`,
		Example: `  # Build and push every service of stage prod with tag v1.2.0
  flow build --push --tag v1.2.0 prod

  # Several tags of the same image
  flow build --push --tag v1.2.0 --tag latest prod

  # An image for amd64 and arm64 machines
  flow build --push --platform linux/amd64,linux/arm64 prod

  # Only the api and worker services (or: flow build --push api prod)
  flow build --push -n api -n worker prod

  # The stage from the environment, as in CI: FLEET_STAGE=prod flow build --push
  # In another namespace of the cluster
  flow build --push --namespace builds prod

  # In CI: every step and line of output, led by the service's name
  flow build --push --progress plain prod

  # Render the ImageBuilds for a GitOps repository instead of creating them
  flow build --push --tag v1.2.0 --source git -o yaml prod > imagebuilds.yaml`,
		Args: stageArgs("build"),
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
	f.BoolVar(&o.noCache, "no-cache", false, "always build: no layer cache, and no reuse of an image built earlier from the same inputs (for Dockerfiles that download unpinned things)")
	o.bindStage(f, "build")
	f.StringVar(&o.registry, "registry", "", "registry for every image of the run: images become <registry>/<project>-<service>")
	f.StringVar(&o.pushSecret, "push-secret", "", "kubernetes.io/dockerconfigjson Secret the builds use (default: forward your local credentials for the build's registry)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Minute, "time limit of each build, from 10s to 24h")
	f.DurationVar(&o.ttl, "ttl", 24*time.Hour, "delete finished ImageBuilds after this long, in whole seconds up to about 68 years (0 keeps them)")
	f.BoolVar(&o.wait, "wait", true, "wait for the builds and show their progress")
	f.BoolVar(&o.noWait, "no-wait", false, "create the builds and return at once")
	f.StringVarP(&o.file, "file", "f", "", "FleetFlow config file (default: $FLEETFLOW_CONFIG_PATH, else $FLEET_PROJECT_ROOT/.fleetflow/fleet.kdl, else .fleetflow/fleet.kdl, fleet.kdl or flow.kdl found from the working directory up)")
	f.StringVarP(&o.output, "output", "o", "", "print the ImageBuild manifests as yaml or json for GitOps and create nothing in the cluster")
	f.StringVar(&o.source, "source", "bundle", "how the cluster gets the build context: bundle (pack and push it) or git (the checkout's remote and HEAD commit)")
	f.StringVar(&o.gitSecret, "git-secret", "", "with --source git: kubernetes.io/basic-auth Secret (username, password or access token) the cluster clones a private repository with")
	f.StringVar(&o.gitCreds, "git-credentials", gitCredentialsNone, "with --source git: forward to lend the builds your own git credentials for the repository's host (git credential fill) in a Secret owned by each build and deleted when it ends; none clones anonymously")
	f.StringVar(&o.bundleRepo, "bundle-repository", "", "repository for source bundles (default: each image's own repository)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print what flow resolves and every registry request (credentials are never printed)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no notes (stage chosen, uploads, hints); progress, warnings and errors still show")
	f.StringVar(&o.progress, "progress", progressAuto, "how to show progress: auto (bars on a terminal, plain lines otherwise), tty (bars), plain (plain lines, and every step and line of build output as it happens, led by [service])")
	f.IntVar(&o.logTail, "log-tail", kanikolog.DefaultTailLines, "lines of a failed build's own output to show under its ✗ line (0: none)")
	o.kube.bind(f)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("source", cobra.FixedCompletions([]string{"bundle", "git"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("git-credentials", cobra.FixedCompletions([]string{gitCredentialsNone, gitCredentialsForward}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{progressAuto, progressTTY, progressPlain}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete fills in what the flags and arguments leave to be worked out: the stage, the services
// asked for, and --no-wait's say over --wait.
func (o *buildOptions) Complete(cmd *cobra.Command, args []string) {
	o.lang = usererr.LangFromEnv(o.env.Getenv)
	if cmd.Flags().Changed("no-wait") {
		o.wait = !o.noWait
	}
	var platforms []string
	for _, p := range o.platforms {
		platforms = append(platforms, fleetconfig.SplitList(p)...)
	}
	o.platforms = platforms
	o.completeStage(args, o.env.Getenv)
}

// The values of --progress, BuildKit's names for them.
const (
	progressAuto  = "auto"
	progressTTY   = "tty"
	progressPlain = "plain"
)

// maxLogTail bounds --log-tail: the output under a ✗ line is a summary; flow logs shows it all.
const maxLogTail = 1000

// live says whether progress is drawn as live bars: --progress tty, or auto on a terminal.
func (o *buildOptions) live() bool {
	return o.progress == progressTTY || o.progress == progressAuto && o.env.Live
}

// maxTTL is the longest --ttl an ImageBuild can hold: its ttlSecondsAfterFinished is an int32.
const maxTTL = math.MaxInt32 * time.Second

// Validate checks the flags on their own, before anything is read or contacted. Its errors are
// errors of the command line (exit status 2), except a bad --tag, which is the product's
// invalid-tag error.
func (o *buildOptions) Validate() error {
	if err := o.validateStage("build"); err != nil {
		return err
	}
	switch {
	case o.output != "" && o.output != "yaml" && o.output != "json":
		return usageError(txt("--output %q: use yaml or json", "--output %q: yaml か json を指定してください", o.output))
	case o.source != "bundle" && o.source != "git":
		return usageError(txt("--source %q: use bundle or git", "--source %q: bundle か git を指定してください", o.source))
	case o.gitCreds != gitCredentialsNone && o.gitCreds != gitCredentialsForward:
		return usageError(txt("--git-credentials %q: use forward or none", "--git-credentials %q: forward か none を指定してください", o.gitCreds))
	case (o.gitSecret != "" || o.gitCreds == gitCredentialsForward) && o.source != "git":
		return usageError(txt("--git-secret and --git-credentials are for --source git: a bundle carries no repository to clone", "--git-secret と --git-credentials は --source git 用です。バンドルにはクローンするリポジトリがありません"))
	case o.gitSecret != "" && o.gitCreds == gitCredentialsForward:
		return usageError(txt("give either --git-secret or --git-credentials=forward, not both", "--git-secret と --git-credentials=forward はどちらか一方だけを指定してください"))
	case o.gitCreds == gitCredentialsForward && o.output != "":
		return usageError(txt("--git-credentials=forward creates a Secret in the cluster, and -o creates nothing: for manifests, create a kubernetes.io/basic-auth Secret once and name it with --git-secret",
			"--git-credentials=forward はクラスターに Secret を作成しますが、-o は何も作成しません。マニフェストには kubernetes.io/basic-auth Secret を一度作成し、--git-secret で指定してください"))
	case o.progress != progressAuto && o.progress != progressTTY && o.progress != progressPlain:
		return usageError(txt("--progress %q: use auto, tty or plain", "--progress %q: auto、tty、plain のいずれかを指定してください", o.progress))
	case o.logTail < 0 || o.logTail > maxLogTail:
		return usageError(txt("--log-tail %d: use a number of lines from 0 (none) to %d", "--log-tail %d: 0（表示しない）から %d までの行数を指定してください", o.logTail, maxLogTail))
	case o.timeout < 10*time.Second || o.timeout > 24*time.Hour:
		return usageError(txt("--timeout %s: use a duration between 10s and 24h", "--timeout %s: 10s から 24h の間で指定してください", o.timeout))
	case o.ttl < 0:
		return usageError(txt("--ttl %s: a time to keep finished builds cannot be negative; use 0 to keep them", "--ttl %s: 負の値は指定できません。完了したビルドを残すには 0 を指定してください", o.ttl))
	case o.ttl > maxTTL:
		return usageError(txt("--ttl %s: at most %s (ImageBuild keeps it as a number of seconds that fits in 32 bits); use 0 to keep builds", "--ttl %s: 最大は %s です（ImageBuild は32ビットの秒数で保持します）。ビルドを残すには 0 を指定してください", o.ttl, maxTTL))
	case o.ttl%time.Second != 0:
		return usageError(txt("--ttl %s: use whole seconds (ImageBuild keeps it in seconds), e.g. 90s or 1h", "--ttl %s: 秒単位で指定してください（ImageBuild は秒で保持します）。例: 90s、1h", o.ttl))
	}
	if problem := fleetconfig.PlatformsProblem(o.platforms); problem != nil {
		return usageError(usererr.T("--platform: "+problem.En, "--platform: "+problem.Ja))
	}
	return nil
}

// Run builds the stage: it reads the project, checks every build, asks the cluster to validate the
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
	plan, targets, err := o.resolve(ctx)
	if err != nil {
		return err
	}
	out := newOutput(o, plan)
	if len(targets) == 0 {
		out.nothingToBuild(plan)
		if o.env.planned != nil {
			o.env.planned(plan, nil)
		}
		return nil
	}

	runID := newRunID()
	params := manifestParams{
		project: plan.Project, stage: plan.Stage, runID: runID, push: o.push,
		timeout: o.timeout, pushSecret: o.pushSecret, gitSecret: o.gitSecret, stableNames: o.output != "",
	}
	if o.output == "" {
		params.ttl = o.ttl
	}
	// The API server's rules, applied here first: nothing is pushed or rendered that it would refuse.
	if err := validateSpecs(targets, params); err != nil {
		return err
	}
	if o.env.planned != nil {
		o.env.planned(plan, targets)
		return nil
	}

	var cl *cluster
	if o.output == "" {
		cl, err = o.kube.connect(o.env)
		if err != nil {
			return err
		}
		params.namespace = cl.namespace
	}

	keychain := registryauth.Keychain(o.env.Getenv)
	// Nothing is pushed before the cluster has said it would accept the builds and the registries
	// that they would take the pushes.
	if err := o.check(ctx, cl, targets, params, keychain); err != nil {
		return err
	}
	var gitCreds map[string]gitCredential
	if o.gitCreds == gitCredentialsForward {
		if gitCreds, err = gitCredentials(ctx, o.env.WorkDir, targets); err != nil {
			return err
		}
	}
	var bundles *packedBundles
	if o.source == "bundle" {
		if bundles, err = o.packBundles(ctx, targets); err != nil {
			return err
		}
	}

	if o.output != "" {
		if bundles != nil {
			if err := o.uploadBundles(ctx, targets, bundles, keychain, out); err != nil {
				return err
			}
		}
		return render(o.env.Stdout, o.output, targets, params)
	}
	builds, err := o.createBuilds(ctx, cl, targets, params, keychain, bundles, gitCreds, out)
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

// resolve reads the project and turns the stage into validated targets, touching nothing outside
// the machine: everything a run checks before it contacts a cluster or a registry.
func (o *buildOptions) resolve(ctx context.Context) (*fleetconfig.Plan, []*target, error) {
	var environ []string
	if o.env.Environ != nil {
		environ = o.env.Environ()
	}
	conf, err := fleetconfig.Open(fleetconfig.Options{
		File: o.file, WorkDir: o.env.WorkDir, Stage: o.stage, Getenv: o.env.Getenv, Environ: environ,
	})
	if err != nil {
		return nil, nil, err
	}
	o.debugf("config files: %s", strings.Join(conf.Files, ", "))
	o.noteStageChoice(conf, o.notef)
	plan, err := conf.Resolve(conf.Stage, fleetconfig.ResolveOptions{
		Registry: o.registry, Services: o.onlyService, NoCache: o.noCache, Platforms: o.platforms,
	})
	if err != nil {
		// The warnings often explain the error (a misspelled dockerfile leaves a service without one).
		for _, w := range conf.Warnings {
			notef(o.env.Stderr, "%s", usererr.Warning(w, o.lang))
		}
		return nil, nil, problemsOf(err)
	}
	for _, w := range plan.Warnings {
		notef(o.env.Stderr, "%s", usererr.Warning(w, o.lang))
	}
	if o.push && conf.LocalOverride != "" && len(plan.Builds) > 0 {
		notef(o.env.Stderr, "%s", usererr.Warning(txt("%s, a personal override, takes part in this push (as in FleetFlow, it is read for every stage)",
			"個人用のオーバーライド %s がこのプッシュに含まれます（FleetFlow と同じく、すべてのステージで読み込まれます）", conf.LocalOverride), o.lang))
	}
	targets, errs := o.targets(plan)
	if len(errs) > 0 {
		return nil, nil, problems(errs)
	}
	for _, t := range targets {
		names := make([]string, 0, len(t.build.BuildArgs))
		for _, a := range t.build.BuildArgs {
			names = append(names, a.Name)
		}
		o.debugf("%s: image %s, Dockerfile %s, context %s, target %q, platforms %v, build args %v (values not shown)",
			t.build.Service, strings.Join(t.push.Images(), ", "), t.build.DockerfileRel, t.build.ContextRel, t.build.Target, t.build.Platforms, names)
	}
	if o.source == "git" && len(targets) > 0 {
		if err := gitSources(ctx, targets, o.notef); err != nil {
			return nil, nil, err
		}
	}
	return plan, targets, nil
}

// debugf prints a note with -v.
func (o *buildOptions) debugf(format string, args ...any) {
	if o.verbose {
		notef(o.env.Stderr, "flow: "+format+"\n", args...)
	}
}

// notef prints a note for people on stderr, in their language, unless -q.
func (o *buildOptions) notef(t usererr.Text) {
	if !o.quiet {
		notef(o.env.Stderr, "%s\n", t.In(o.lang))
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
			// One block per bad flag, naming every image it would have tagged. --tag "", which
			// FleetFlow passes to Docker, is one of them: an empty tag is not "latest".
			var repos []string
			for _, b := range plan.Builds {
				if ref, perr := imageref.ParseLocal(b.Image); perr == nil {
					repos = append(repos, ref.Repository)
				}
			}
			badTags = append(badTags, usererr.InvalidTag(strings.Join(repos, ", "), tag))
		}
	}
	if len(badTags) > 0 {
		return nil, badTags
	}
	if o.bundleRepo != "" {
		if err := imageref.ValidateRepository(o.bundleRepo); err != nil {
			return nil, []error{err}
		}
	}
	for _, b := range plan.Builds {
		resolve := imageref.ResolveLocal
		if o.push {
			// Only a pushed image needs a registry in its name.
			resolve = imageref.Resolve
		}
		push, err := resolve(b.Image, o.tags...)
		if err != nil {
			var ue *usererr.Error
			if errors.As(err, &ue) && ue.Kind == usererr.KindNoRegistry {
				_ = ue.WithLines(txt("service %s: with --push, its image needs a registry, and none applies (no registry in image, --registry, or registry in the service, the stage or the project)",
					"サービス %s: --push ではイメージにレジストリが必要ですが、どこにも指定がありません（image、--registry、サービス・ステージ・プロジェクトの registry）", b.Service))
			}
			errs = append(errs, err)
			continue
		}
		t := &target{build: b, push: push, bundleRepo: push.Repository}
		switch {
		case o.bundleRepo != "":
			t.bundleRepo = o.bundleRepo
		case push.Local() && o.source == "bundle":
			errs = append(errs, noBundleRepository(b.Service, b.Image))
			continue
		}
		targets = append(targets, t)
	}
	return targets, errs
}

// noBundleRepository: an image that is only built still needs its build context uploaded to a
// registry the cluster can pull from.
func noBundleRepository(service, image string) error {
	return usererr.New(usererr.KindConfig, usererr.T(
		"the build context has nowhere to go: the cluster fetches it from a registry",
		"ビルドコンテキストのアップロード先がありません: クラスターはレジストリからビルドコンテキストを取得します")).
		WithTarget(image).
		WithReason(txt("service %s: the image %s names no registry; without --push that is fine for the image, but its build context is uploaded to the image's repository",
			"サービス %s: イメージ %s にはレジストリがありません。--push なしならイメージには問題ありませんが、ビルドコンテキストはイメージのリポジトリにアップロードされます", service, image)).
		WithRemedies(
			txt("pass --bundle-repository REGISTRY/PATH, a repository the cluster can pull from", "--bundle-repository REGISTRY/PATH でクラスターが取得できるリポジトリを指定してください"),
			txt("or set a registry (registry \"ghcr.io/org\" in the project, or --registry)", "またはレジストリを設定してください（プロジェクトの registry \"ghcr.io/org\"、または --registry）"),
			txt("or build from the Git checkout with --source git", "または --source git で Git のチェックアウトからビルドしてください"))
}

// check asks the cluster to validate the ImageBuilds (cl nil: none, they are only rendered) and
// the registries whether the credentials may push, at the same time: neither depends on the
// other, and each is a few round trips. The cluster's answer comes first, as when they ran one
// after the other: its refusal is reported (and the registry checks stopped) even when a
// registry check failed too.
func (o *buildOptions) check(ctx context.Context, cl *cluster, targets []*target, params manifestParams, kc authn.Keychain) error {
	if cl == nil {
		return o.preflight(ctx, targets, kc)
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pushErr error
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		pushErr = o.preflight(pctx, targets, kc)
	}()
	if err := cl.dryRun(ctx, targets, params); err != nil {
		cancel()
		<-checked
		return err
	}
	<-checked
	return pushErr
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

// packedBundles are the build contexts of a run, packed and measured, ready to be uploaded.
type packedBundles struct {
	images []v1.Image
	stats  []bundle.PackStats
	// bytes is the size of all the bundles' blobs, the most an upload sends.
	bytes int64
}

// packBundles plans and measures every build context, in parallel, which checks each against
// what a build pod unpacks, so that one service's oversized context stops the run before a byte
// is sent; the local index spares measuring the layers whose files did not change. It learns the
// bundles' digests, and so the reference of each target's bundle, without holding a context in
// memory: the upload packs again, as it sends them, the layers the registry lacks.
func (o *buildOptions) packBundles(ctx context.Context, targets []*target) (*packedBundles, error) {
	p := &packedBundles{images: make([]v1.Image, len(targets)), stats: make([]bundle.PackStats, len(targets))}
	sizes := make([]int64, len(targets))
	err := parallel(ctx, indexes(targets), func(_ context.Context, i int) error {
		t := targets[i]
		img, st, err := bundle.Build(bundle.PackOptions{ContextDir: t.build.Context, Dockerfile: t.build.Dockerfile, IndexDir: o.env.BundleIndexDir})
		if err != nil {
			return fmt.Errorf("packing the build context of %s (%s): %w", t.build.Service, t.build.ContextRel, err)
		}
		ref, size, err := bundleRef(t.bundleRepo, img)
		if err != nil {
			return err
		}
		p.images[i], p.stats[i], sizes[i] = img, st, size
		t.dockerfile, t.bundleRef = st.DockerfilePath, ref
		o.debugf("%s: build context in %d layers, %d packed, the others unchanged since the last run", t.build.Service, st.Layers, st.PackedLayers)
		return nil
	})
	for _, n := range sizes {
		p.bytes += n
	}
	return p, err
}

// bundleRef is where img will be found once uploaded to repo, and the size of its blobs.
func bundleRef(repo string, img v1.Image) (string, int64, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return "", 0, fmt.Errorf("bundle: %q is not a valid repository for the source bundle: %w; give a repository such as ghcr.io/org/app, without tag or digest", repo, err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", 0, fmt.Errorf("bundle: computing the bundle digest: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return "", 0, fmt.Errorf("bundle: reading the bundle manifest: %w", err)
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	return r.Digest(d.String()).String(), size, nil
}

// uploadBundles pushes every packed build context, in parallel.
func (o *buildOptions) uploadBundles(ctx context.Context, targets []*target, p *packedBundles, kc authn.Keychain, out *output) error {
	start := time.Now()
	return parallel(ctx, indexes(targets), func(ctx context.Context, i int) error {
		t := targets[i]
		ref, uploaded, err := bundle.Push(ctx, t.bundleRepo, p.images[i], o.remoteOptions(ctx, kc)...)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return registryauth.PushError(ctx, err, t.bundleRepo, kc)
		}
		if ref != t.bundleRef {
			return fmt.Errorf("bundle: the source bundle of %s was uploaded as %s, not %s as planned", t.build.Service, ref, t.bundleRef)
		}
		o.debugf("%s: source bundle %s", t.build.Service, ref)
		out.uploaded(t, p.stats[i], uploaded, time.Since(start))
		return nil
	})
}

// EarlyCreateMaxBytes is the largest total of bundles whose ImageBuilds may be created while they
// upload, so that the cluster starts the build pods meanwhile (the pod's fetcher waits for a bundle
// that is not there yet; fetchsource.DefaultUploadWait).
const EarlyCreateMaxBytes = 4 << 20

// earlyCreate is the total of bundles up to which flow build creates the ImageBuilds while it
// uploads. It is off (0): a build created before its bundle is in the registry gets its input key
// after it started, and the build record of such a build is not found by the next run from the
// same inputs, so an unchanged re-run would build again. Until that is mended, the builds are
// created after the upload; the tests of the overlapped path turn it on.
var earlyCreate int64

// createBuilds creates the run's ImageBuilds. With bundles of at most earlyCreate bytes, it
// creates them while the bundles upload, so that the cluster schedules and starts the build pods
// in the meantime (the pod's fetcher waits for a bundle that is not there yet); if the upload
// fails, the builds are deleted again, and if a create fails, the upload stops. Every check has
// passed by then (the cluster's dry run, push access, each context measured), so an upload
// failing is a rare network failure.
func (o *buildOptions) createBuilds(ctx context.Context, cl *cluster, targets []*target, params manifestParams,
	kc authn.Keychain, bundles *packedBundles, gitCreds map[string]gitCredential, out *output) ([]*buildv1.ImageBuild, error) {
	forward := o.pushSecret == ""
	if bundles == nil || bundles.bytes > earlyCreate {
		if bundles != nil {
			if err := o.uploadBundles(ctx, targets, bundles, kc, out); err != nil {
				return nil, err
			}
		}
		builds, _, err := cl.create(ctx, targets, params, kc, forward, gitCreds)
		return builds, err
	}
	uploadCtx, stopUpload := context.WithCancel(ctx)
	defer stopUpload()
	var uploadErr error
	uploaded := make(chan struct{})
	go func() {
		defer close(uploaded)
		uploadErr = o.uploadBundles(uploadCtx, targets, bundles, kc, out)
	}()
	builds, undo, err := cl.create(ctx, targets, params, kc, forward, gitCreds)
	if err != nil {
		stopUpload()
		<-uploaded
		return nil, err
	}
	<-uploaded
	if uploadErr != nil {
		undo()
		return nil, uploadErr
	}
	return builds, nil
}

func indexes[T any](items []T) []int {
	out := make([]int, len(items))
	for i := range out {
		out[i] = i
	}
	return out
}

// maxParallel bounds the registry checks, context packing and bundle uploads under way at once:
// each reads a build context from disk and compresses it, and a stage of many services must not
// open all of them at once.
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

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// complete offers the stages and services of the config for shell completion.
func (o *buildOptions) complete(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	path, err := fleetconfig.Discover(o.file, o.env.WorkDir, o.env.Getenv)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	conf, err := fleetconfig.Load(path, fleetconfig.LoadOptions{Getenv: o.env.Getenv})
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
