package fleetconfig

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// ResolveOptions are the CLI's inputs to Resolve.
type ResolveOptions struct {
	// Registry is --registry; it beats every registry of the config.
	Registry string
	// Services restricts the plan to these services of the stage (-n); empty means all of them.
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
	// Builds are the services to build, in the order the stage lists them.
	Builds []Build
	// Skipped are services of the stage that are not built because they have neither build
	// settings nor a Dockerfile (their image is pulled), in stage order.
	Skipped []Skipped
	// ListsNoServices is set when the stage lists no service at all: there is nothing to build,
	// which is not an error (FleetFlow exits 0 too).
	ListsNoServices bool
	// Warnings are problems that do not stop the build, such as a misspelled field or a build arg
	// that looks like a secret. They never contain build-arg values.
	Warnings []usererr.Text
}

// Build is one service to build, with every path resolved and checked.
type Build struct {
	// Service is the service name.
	Service string
	// Image is the image to build, possibly with a tag: `<registry>/<project>-<service>[:tag]`
	// when a registry applies (the tag is the one written in the service's image), else the
	// service's image as written, else the service name — FleetFlow's naming, except that
	// FleetFlow names every service of a stage `<registry>/<project>-<stage>`, so that they
	// overwrite each other in the registry.
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
	// BuildArgs are the build args sorted by name, with `{VAR}` expanded.
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

// ReasonNoDockerfile is the Skipped.Reason of a service without build settings or Dockerfile.
const ReasonNoDockerfile = "no Dockerfile: pulled image"

// Resolve computes the build plan of a stage. The stage's `service` entries choose the services,
// in the order written; a stage that lists none builds nothing. For each service, the stage's
// block for it overrides its fields.
//
// A service is built when it has build settings (dockerfile, context, target, build_args, a build
// block …) or a Dockerfile where FleetFlow's conventions look (services/<name>/Dockerfile,
// <name>/Dockerfile, Dockerfile.<name>); one with build settings but no Dockerfile is an error,
// one with neither is skipped (its image is pulled).
//
// Every problem of the stage is reported at once (errors.Join), so a user fixes them in one go;
// nothing is built when there is any.
func (c *Config) Resolve(stage string, opts ResolveOptions) (*Plan, error) {
	st, ok := c.stages[stage]
	if !ok {
		return nil, c.unknownStage(stage)
	}
	plan := &Plan{Project: c.Project, Stage: stage, Warnings: slices.Clone(c.Warnings)}
	names := st.services
	var errs []error
	if len(opts.Services) > 0 {
		requested := map[string]bool{}
		for _, s := range opts.Services {
			if !slices.Contains(names, s) {
				errs = append(errs, configErr(ErrUnknownService,
					sprintf("service '%s' is not part of stage '%s'", s, stage),
					sprintf("サービス '%s' はステージ '%s' に含まれていません。", s, stage)).
					WithLines(txt("available services: %s", "利用可能なサービス: %s", quoteList(names))))
			}
			requested[s] = true
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		// In the stage's order, not the order of the flags, as FleetFlow does.
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !requested[n] })
	}
	if len(st.services) == 0 {
		plan.ListsNoServices = true
		return plan, nil
	}
	for _, name := range names {
		spec := &serviceSpec{}
		if base, ok := c.services[name]; ok {
			spec.merge(base)
		}
		override, hasOverride := st.overrides[name]
		if hasOverride {
			spec.merge(override)
		}
		if !spec.defined && !hasOverride {
			errs = append(errs, configErr(ErrUndefinedService,
				sprintf("stage '%s' lists service '%s', which is not defined", stage, name),
				sprintf("ステージ '%s' のサービス '%s' が定義されていません", stage, name)).
				WithTarget(st.file).
				WithLines(txt("defined services: %s", "定義されているサービス: %s", quoteList(c.Services()))).
				WithRemedies(
					txt("define it with service %q { … } (or fix the spelling in the stage)", "service %q { … } で定義してください（またはステージ内の綴りを修正してください）", name),
					txt("services in other files must be in services/**/*.kdl or brought in with include \"…\"", "別ファイルのサービスは services/**/*.kdl に置くか、include \"…\" で読み込んでください")))
			continue
		}
		b, err := c.resolveService(name, spec, st, opts, plan)
		switch {
		case err != nil:
			errs = append(errs, err)
		case b == nil:
			plan.Skipped = append(plan.Skipped, Skipped{Service: name, Reason: ReasonNoDockerfile})
		default:
			plan.Builds = append(plan.Builds, *b)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plan, nil
}

// resolveService returns the build of one service, or nil when it is not built.
func (c *Config) resolveService(name string, spec *serviceSpec, st *stageSpec, opts ResolveOptions, plan *Plan) (*Build, error) {
	dockerfile, err := c.findDockerfile(name, spec)
	if err != nil {
		return nil, err
	}
	if dockerfile == "" {
		if !spec.build {
			return nil, nil
		}
		// FleetFlow warns, skips the service and reports success; a service meant to be built
		// that is not built is a failure.
		return nil, configErr(ErrNoDockerfile, sprintf("service '%s' has build settings but no Dockerfile", name), sprintf("サービス '%s' にはビルド設定がありますが、Dockerfile が見つかりません", name)).
			WithLines(txt("looked for %s in %s", "%s を %s で探しました", strings.Join(dockerfileCandidates(name), ", "), c.Root)).
			WithRemedies(txt("add dockerfile \"path/to/Dockerfile\" to the service (relative to the project root)", "サービスに dockerfile \"path/to/Dockerfile\" を追加してください（プロジェクトルートからの相対パス）"))
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
	switch {
	case b.Registry != "":
		b.Image = strings.TrimSuffix(b.Registry, "/") + "/" + c.Project + "-" + name
		if tag := imageTag(deref(spec.image)); tag != "" {
			b.Image += ":" + tag
		}
	case deref(spec.image) != "":
		b.Image = *spec.image
	default:
		b.Image = name
	}
	b.Platforms = spec.platforms
	if len(opts.Platforms) > 0 {
		b.Platforms = opts.Platforms
	}
	var errs []error
	if problem := PlatformsProblem(b.Platforms); problem != nil {
		errs = append(errs, configErr(ErrInvalidPlatform, sprintf("service '%s' has an invalid platform", name), sprintf("サービス '%s' のプラットフォームが不正です", name)).
			WithReason(*problem))
	}
	if b.Target != "" && !targetRe.MatchString(b.Target) || utf8.RuneCountInString(b.Target) > buildv1.MaxTargetLength {
		errs = append(errs, c.buildSettingError(name, txt("target %q is not a Dockerfile stage name the build can take: letters, digits, '_', '.' and '-', starting with a letter or digit, at most %d characters",
			"target %q はビルドで使えるステージ名ではありません: 英数字と '_'、'.'、'-' で、英数字で始まる %d 文字以内にしてください", b.Target, buildv1.MaxTargetLength)))
	}
	lookup := c.varLookup(st)
	for _, k := range slices.Sorted(maps.Keys(spec.buildArgs)) {
		value, unknown := expandVars(spec.buildArgs[k], lookup)
		b.BuildArgs = append(b.BuildArgs, BuildArg{Name: k, Value: value})
		for _, u := range unknown {
			plan.Warnings = append(plan.Warnings, txt("service %q: build arg %s: {%s} is neither a variable nor an environment variable, so it is passed as written",
				"サービス %q: ビルド引数 %s: {%s} は変数でも環境変数でもないため、そのまま渡されます", name, k, u))
		}
		switch {
		case !buildArgNameRe.MatchString(k) || len(k) > buildv1.MaxBuildArgNameLength:
			errs = append(errs, c.buildSettingError(name, txt("build arg name %q is not an ARG name: letters, digits and '_', not starting with a digit, at most %d characters",
				"ビルド引数名 %q は ARG の名前として使えません: 英数字と '_' で、数字以外で始まる %d 文字以内にしてください", k, buildv1.MaxBuildArgNameLength)))
		case utf8.RuneCountInString(value) > buildv1.MaxBuildArgValueLength:
			errs = append(errs, c.buildSettingError(name, txt("build arg %s is longer than %d characters", "ビルド引数 %s が %d 文字を超えています", k, buildv1.MaxBuildArgValueLength)))
		}
		if looksSecret(k) {
			plan.Warnings = append(plan.Warnings, txt("service %q: build arg %s looks like a secret; build args are stored in the image history, so pass secrets another way (e.g. a secret mount)",
				"サービス %q: ビルド引数 %s は秘密情報のようです。ビルド引数はイメージの履歴に残るため、秘密情報は別の方法（シークレットマウントなど）で渡してください", name, k))
		}
	}
	if len(spec.buildArgs) > buildv1.MaxBuildArgs {
		errs = append(errs, c.buildSettingError(name, txt("%d build args; at most %d are allowed", "ビルド引数が %d 個あります（最大 %d 個）", len(spec.buildArgs), buildv1.MaxBuildArgs)))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b, nil
}

var (
	targetRe       = regexp.MustCompile(buildv1.TargetPattern)
	buildArgNameRe = regexp.MustCompile(buildv1.BuildArgNamePattern)
)

func (c *Config) buildSettingError(service string, reason usererr.Text) error {
	return configErr(ErrInvalidBuildSetting, sprintf("service '%s' has a build setting the build cannot take", service), sprintf("サービス '%s' のビルド設定はビルドで使えません", service)).
		WithReason(reason)
}

// imageTag is the tag written in an image name: after the last ':' that follows the last '/'
// (a ':' before a '/' is a registry port). A digest is not a tag.
func imageTag(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if c := strings.LastIndexByte(image, ':'); c > strings.LastIndexByte(image, '/') {
		return image[c+1:]
	}
	return ""
}

// varLookup finds the value of a `{NAME}` in a build arg: the process environment first, as in
// FleetFlow, then the stage's variables, the top-level variables and the template variables
// (.env files, variables/**/*.kdl), so that the `{VAR}` FleetFlow's guide pairs with a variables
// block works.
func (c *Config) varLookup(st *stageSpec) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if v := c.getenv(name); v != "" {
			return v, true
		}
		if v, ok := st.variables[name]; ok {
			return v, true
		}
		if v, ok := c.Variables[name]; ok {
			return v, true
		}
		switch v := c.template[name].(type) {
		case nil:
			return "", false
		case string:
			return v, true
		default:
			if s, ok := templateText(v); ok {
				return s, true
			}
		}
		return "", false
	}
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
			return "", configErr(ErrDockerfileNotFound, "Dockerfile not found", "Dockerfileが見つかりません").
				WithTarget(p).
				WithReason(txt("service %q: dockerfile %q does not exist", "サービス %q: dockerfile %q が存在しません", name, rel)).
				WithRemedies(txt("fix the path, which is relative to the project root %s, or create the file", "パスを修正するか（プロジェクトルート %s からの相対パスです）、ファイルを作成してください", c.Root))
		}
		if !fi.Mode().IsRegular() {
			return "", configErr(ErrDockerfileNotFound, "Dockerfile not found", "Dockerfileが見つかりません").
				WithTarget(p).
				WithReason(txt("service %q: dockerfile %q is not a file", "サービス %q: dockerfile %q はファイルではありません", name, rel)).
				WithRemedies(txt("name the Dockerfile itself", "Dockerfile そのものを指定してください"))
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
		return "", configErr(ErrContextNotFound, "build context not found", "ビルドコンテキストが見つかりません").
			WithTarget(p).
			WithReason(txt("service %q: context %q is not an existing folder", "サービス %q: context %q は存在するフォルダーではありません", name, rel)).
			WithRemedies(txt("fix the path, which is relative to the project root %s", "パスを修正してください（プロジェクトルート %s からの相対パスです）", c.Root))
	}
	return c.insideRoot(name, "context", rel, p)
}

// insideRoot resolves symbolic links in p and checks that the result lies in the project root:
// the context is uploaded to the cluster, and nothing outside the project may leak with it.
func (c *Config) insideRoot(service, field, configured, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", configErr(ErrInvalidConfig, "a path cannot be resolved", "パスを解決できません").WithTarget(p).
			WithReason(usererr.Same(err.Error()))
	}
	rel, err := filepath.Rel(c.Root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", configErr(ErrOutsideProject, "a path lies outside the project", "パスがプロジェクトの外にあります").
			WithTarget(real).
			WithReason(txt("service %q: %s %q resolves to %s, outside the project root %s", "サービス %q: %s %q は %s を指しており、プロジェクトルート %s の外です", service, field, configured, real, c.Root)).
			WithRemedies(txt("only files inside the project are sent to the cluster: move them into it", "クラスターに送られるのはプロジェクト内のファイルだけです。プロジェクト内に移してください"))
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

// PlatformsProblem says, in both languages, what is wrong with a list of platforms (see
// package platform), or returns nil when every platform is one the API accepts, once.
func PlatformsProblem(list []string) *usererr.Text {
	var seen []platform.Platform
	for _, s := range list {
		p, err := platform.Parse(s)
		if err != nil {
			hint := usererr.T("", "")
			if parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/"); len(parts) >= 2 {
				if alias, ok := platformAliases[parts[1]]; ok {
					parts[1] = alias
					hint = txt(" (did you mean %s?)", "（%s の間違いではありませんか？）", strings.Join(parts, "/"))
				} else if parts[0] != "linux" {
					hint = txt(" (Kaniko builds Linux images only)", "（Kaniko がビルドするのは Linux のイメージだけです）")
				}
			}
			t := txt("platform %q is not os/arch[/variant] with os linux and a Go architecture name%s: use for example linux/amd64, linux/arm64 or linux/arm/v7",
				"プラットフォーム %q は os/arch[/variant]（os は linux、arch は Go のアーキテクチャ名）ではありません%s。例: linux/amd64、linux/arm64、linux/arm/v7", s, hint.En)
			t.Ja = sprintf("プラットフォーム %q は os/arch[/variant]（os は linux、arch は Go のアーキテクチャ名）ではありません%s。例: linux/amd64、linux/arm64、linux/arm/v7", s, hint.Ja)
			return &t
		}
		for _, q := range seen {
			if q.Matches(p) {
				t := txt("platform %s is listed twice (as %s and %s): list it once", "プラットフォーム %s が2回指定されています（%s と %s）。1回だけ指定してください", p.Normalize(), q, p)
				return &t
			}
		}
		seen = append(seen, p)
	}
	return nil
}

// platformAliases are the names other tools print (uname -m, Debian) for Go's architectures.
var platformAliases = map[string]string{
	"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
	"i386": "386", "i686": "386",
}
