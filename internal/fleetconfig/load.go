package fleetconfig

import (
	"errors"
	"io"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sblinch/kdl-go/document"

	"github.com/fleetflow/flow-build/internal/kdlv2"
	"github.com/fleetflow/flow-build/internal/tera"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// Config is a loaded FleetFlow project, for one stage. Use Resolve to turn the stage into a build
// plan.
type Config struct {
	// Project is the `project "name"` node (the last one), or the name of the project root folder.
	Project string
	// Root is the project root (see ProjectRoot), absolute, with symbolic links resolved.
	Root string
	// File is the absolute path of the root config file.
	File string
	// Files lists every file read, in the order they were merged: the KDL files of the document
	// (with the files they include right after each include), then the files that only give
	// template variables (variables/**/*.kdl, .env files).
	Files []string
	// Stage is the stage the project was loaded for: the files, variables and overrides of this
	// stage are applied. "" when loaded without a stage.
	Stage string
	// LocalOverride is the flow.local.kdl read, a developer's personal override, or "".
	LocalOverride string
	// StageChosenBy says how Open chose the stage when none was named: "default" (the stage
	// named default) or "only" (the only stage); "" when it was named.
	StageChosenBy string
	// Registry is the top-level `registry "host/owner"` (the last one), or "".
	Registry string
	// Variables holds the top-level `variables { KEY "v" }` of every KDL file of the document.
	Variables map[string]string
	// Warnings are problems that do not stop a build: a misspelled field, a field FleetFlow
	// ignores. They never contain variable or build-arg values.
	Warnings []usererr.Text

	// template holds the template variables, for `{VAR}` in build args.
	template map[string]any
	getenv   func(string) string

	services     map[string]*serviceSpec
	serviceOrder []string
	stages       map[string]*stageSpec
	stageOrder   []string
}

// serviceSpec holds the fields of a service that matter for building. Pointers tell "not set"
// from "set to empty", so that a later block or a stage override changes only what it names.
type serviceSpec struct {
	image, registry, dockerfile, context, target *string
	noCache                                      *bool
	buildArgs                                    map[string]string
	// platforms is `platform "linux/arm64"` or `platforms "linux/amd64" "linux/arm64"`; nil
	// when the block does not say.
	platforms []string
	// build: some build setting is present (FleetFlow's `service.build` is set), even an empty
	// `build_args {}` or an `image_tag`.
	build bool
	// defined: a top-level `service` block exists (a stage may list names that do not).
	defined bool
}

// merge applies the fields o sets on top of s; build args merge by name.
func (s *serviceSpec) merge(o *serviceSpec) {
	for _, f := range []struct{ dst, src **string }{
		{&s.image, &o.image}, {&s.registry, &o.registry}, {&s.dockerfile, &o.dockerfile},
		{&s.context, &o.context}, {&s.target, &o.target},
	} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
	if o.noCache != nil {
		s.noCache = o.noCache
	}
	if o.platforms != nil {
		s.platforms = o.platforms
	}
	for k, v := range o.buildArgs {
		if s.buildArgs == nil {
			s.buildArgs = map[string]string{}
		}
		s.buildArgs[k] = v
	}
	s.build = s.build || o.build
	s.defined = s.defined || o.defined
}

// stageSpec is one `stage` block. A later block of the same stage replaces it, as in FleetFlow.
type stageSpec struct {
	services  []string
	overrides map[string]*serviceSpec
	variables map[string]string
	registry  *string
	file      string
}

// Limits on what a project may read: config files are small, and the bounds keep an include of a
// device, a huge file or an include explosion from exhausting the machine.
const (
	maxConfigSize   = 4 << 20
	maxTotalSize    = 32 << 20
	maxConfigFiles  = 500
	maxIncludeDepth = 32
)

// LoadOptions are the inputs of Load besides the file.
type LoadOptions struct {
	// Stage selects the stage files and variables (flow.<stage>.kdl, .env.<stage>, the stage's
	// variables and service blocks). "" loads without a stage.
	Stage string
	// Getenv reads the environment for `${VAR}` and `{VAR}` (nil means os.Getenv).
	Getenv func(string) string
	// Environ lists the environment as KEY=value, for the FLEET_*, CI_* and APP_* template
	// variables (nil means none).
	Environ []string
	// lenient renders undefined template variables as empty text: used only to find the stage
	// names before the stage is known.
	lenient bool
}

// Load reads the project whose root config file is path: that file, FleetFlow's multi-file layout
// beside it (services/, stages/, variables/), the stage and local overrides, the .env files and
// every include, each rendered as a template first. Errors are *usererr.Error values naming the
// file and, where known, the line and column.
func Load(path string, opts LoadOptions) (*Config, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, configErr(ErrConfigNotFound, "the config file cannot be resolved", "設定ファイルのパスを解決できません").WithTarget(path).WithReason(usererr.Same(err.Error()))
	}
	if _, err := checkConfigFile(abs, txt("pass an existing file with -f, or fix %s", "存在するファイルを -f で指定するか、%s を修正してください", EnvConfigPath)); err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(ProjectRoot(abs))
	if err != nil {
		return nil, configErr(ErrConfigNotFound, "the project root cannot be resolved", "プロジェクトルートを解決できません").WithTarget(ProjectRoot(abs)).WithReason(usererr.Same(err.Error()))
	}
	lay, err := discoverLayout(root, abs, opts.Stage)
	if err != nil {
		return nil, err
	}
	l := &loader{
		opts:   opts,
		loaded: map[string]bool{},
		cfg: &Config{
			Root: root, File: abs, Stage: opts.Stage, Variables: map[string]string{}, getenv: opts.Getenv,
			services: map[string]*serviceSpec{}, stages: map[string]*stageSpec{},
		},
	}
	if err := l.templateContext(lay); err != nil {
		return nil, err
	}
	for _, f := range []string{lay.cloud, lay.root} {
		if err := l.document(f); err != nil {
			return nil, err
		}
	}
	for _, group := range [][]string{lay.services, lay.stages, {lay.stageOverride, lay.localOverride}} {
		for _, f := range group {
			if err := l.document(f); err != nil {
				return nil, err
			}
		}
	}
	l.cfg.LocalOverride = lay.localOverride
	l.cfg.Files = append(l.cfg.Files, l.variableFiles...)
	if l.cfg.Project == "" {
		l.cfg.Project = filepath.Base(root)
	}
	return l.cfg, nil
}

type loader struct {
	cfg    *Config
	opts   LoadOptions
	loaded map[string]bool   // real paths of the KDL files loaded: each is loaded once
	size   int64             // bytes read so far
	cache  map[string]string // files read for their variables, by path, to be read only once
	// variableFiles are the files read only for template variables, listed after the document.
	variableFiles []string
	// elsewhere maps the names of variables defined in blocks that give no template variables
	// (stage files, overrides) to their file, for the hint of an undefined-variable error.
	elsewhere map[string]string
}

// document loads one KDL file of the document ("" is skipped).
func (l *loader) document(file string) error {
	if file == "" {
		return nil
	}
	return l.loadFile(file, nil, "")
}

// loadFile renders, parses and applies one file. chain holds the files including it (to detect
// cycles) and via the include node that named it (for errors).
func (l *loader) loadFile(file string, chain []string, via string) error {
	key := file
	if real, err := filepath.EvalSymlinks(file); err == nil {
		key = real
	}
	if i := slices.Index(chain, key); i >= 0 {
		return configErr(ErrIncludeCycle, "include cycle", "include が循環しています").
			WithTarget(via).
			WithReason(usererr.Same(l.chainText(append(slices.Clone(chain[i:]), key)))).
			WithRemedies(txt("remove one of these include nodes", "これらの include のどれかを削除してください")).
			WithCause(errors.Join(ErrIncludeCycle, ErrInvalidConfig))
	}
	if l.loaded[key] {
		// Loaded already (an include diamond, or a layout file also included): once is enough, and
		// loading it again would make the work grow with every level of a diamond.
		return nil
	}
	if len(chain) >= maxIncludeDepth {
		return configErr(ErrTooManyFiles, "includes are nested too deep", "include の入れ子が深すぎます").
			WithTarget(via).
			WithReason(txt("more than %d levels: %s", "%d 段を超えています: %s", maxIncludeDepth, l.chainText(append(slices.Clone(chain), key)))).
			WithRemedies(txt("flatten the includes", "include の入れ子を浅くしてください")).
			WithCause(errors.Join(ErrTooManyFiles, ErrInvalidConfig))
	}
	if len(l.loaded) >= maxConfigFiles {
		return l.budgetError(via, txt("the project reads more than %d config files", "プロジェクトが読み込む設定ファイルが %d 個を超えています", maxConfigFiles))
	}
	raw, err := l.read(file, via)
	if err != nil {
		return err
	}
	l.loaded[key] = true
	l.cfg.Files = append(l.cfg.Files, file)
	text, err := l.render(file, raw)
	if err != nil {
		return err
	}
	doc, err := kdlv2.Parse([]byte(text))
	var se *kdlv2.SyntaxError
	if errors.As(err, &se) {
		e := configErr(ErrInvalidConfig, "KDL syntax error", "KDL の構文エラーです").
			WithTarget(sprintf("%s:%d:%d", file, se.Line, se.Column)).
			WithReason(usererr.T(se.Msg, se.MsgJa))
		for _, line := range strings.Split(se.Excerpt, "\n") {
			e = e.WithLines(usererr.Same("    " + line))
		}
		if text != raw {
			e = e.WithLines(txt("(the position is in the text as rendered from its templates)", "（位置はテンプレートを展開した後のテキストのものです）"))
		}
		return e
	}
	if err != nil {
		return err
	}
	chain = append(slices.Clone(chain), key)
	for _, n := range doc.Nodes {
		if err := l.topLevel(file, n, chain); err != nil {
			return err
		}
	}
	return nil
}

// chainText shows a chain of includes with paths relative to the project root.
func (l *loader) chainText(files []string) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f
		if rel, err := filepath.Rel(l.cfg.Root, f); err == nil && !strings.HasPrefix(rel, "..") {
			names[i] = filepath.ToSlash(rel)
		}
	}
	return strings.Join(names, " → ")
}

func (l *loader) budgetError(via string, reason usererr.Text) error {
	e := configErr(ErrTooManyFiles, "the project reads too many files", "プロジェクトが読み込むファイルが多すぎます").
		WithReason(reason).
		WithRemedies(txt("check the include patterns: an include of a large folder or a glob that matches more than meant", "include のパターンを確認してください（大きなフォルダーや、意図より多く一致するグロブ）")).
		WithCause(errors.Join(ErrTooManyFiles, ErrInvalidConfig))
	if via != "" {
		e = e.WithTarget(via)
	}
	return e
}

// read reads a config file, within the size limits.
func (l *loader) read(file, via string) (string, error) {
	if s, ok := l.cache[file]; ok {
		return s, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return "", configErr(ErrInvalidConfig, "a config file cannot be read", "設定ファイルを読み込めません").WithTarget(file).WithReason(usererr.Same(err.Error()))
	}
	// The file is only read, so Close cannot lose data; its error would tell nothing.
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return "", configErr(ErrInvalidConfig, "a config file cannot be read", "設定ファイルを読み込めません").WithTarget(file).WithReason(usererr.Same(err.Error()))
	}
	if !fi.Mode().IsRegular() {
		return "", nodeError(file, "", txt("not a regular file; a config file or include must name a .kdl file", "通常のファイルではありません。設定ファイルや include には .kdl ファイルを指定してください"))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return "", configErr(ErrInvalidConfig, "a config file cannot be read", "設定ファイルを読み込めません").WithTarget(file).WithReason(usererr.Same(err.Error()))
	}
	if len(data) > maxConfigSize {
		return "", nodeError(file, "", txt("larger than %d MiB; this is not a FleetFlow config", "%d MiB を超えています。FleetFlow の設定ファイルではありません", maxConfigSize>>20))
	}
	l.size += int64(len(data))
	if l.size > maxTotalSize {
		return "", l.budgetError(via, txt("the config files add up to more than %d MiB", "設定ファイルの合計が %d MiB を超えています", maxTotalSize>>20))
	}
	if l.cache == nil {
		l.cache = map[string]string{}
	}
	l.cache[file] = string(data)
	return string(data), nil
}

// render renders a file's templates with the project's template variables.
func (l *loader) render(file, raw string) (string, error) {
	if tera.Blank(raw) == raw {
		return raw, nil // no tags: the text is its own rendering
	}
	out, err := tera.Render(raw, l.cfg.template, tera.Options{Lenient: l.opts.lenient})
	var te *tera.Error
	if errors.As(err, &te) {
		return "", l.templateError(file, te)
	}
	return out, err
}

// templateError says where a template failed and, for an undefined variable, where template
// variables come from.
func (l *loader) templateError(file string, te *tera.Error) error {
	e := configErr(ErrTemplate, "template error", "テンプレートエラーです").
		WithTarget(sprintf("%s:%d:%d", file, te.Line, te.Column)).
		WithReason(usererr.T(te.En, te.Ja)).
		WithCause(errors.Join(ErrTemplate, ErrInvalidConfig))
	if te.Code != tera.CodeUndefined {
		return e
	}
	name := te.Name
	if i := strings.IndexAny(name, ".["); i >= 0 {
		name = name[:i]
	}
	switch where, ok := l.elsewhere[name]; {
	case name == "FLEET_STAGE" && l.opts.Stage == "":
		e = e.WithRemedies(txt("name the stage: flow build <stage> (FLEET_STAGE is the stage flow builds)", "ステージを指定してください: flow build <stage>（FLEET_STAGE はビルドするステージです）"))
	case ok:
		e = e.WithRemedies(txt("%s is defined in %s, but template variables come only from .fleetflow/fleet.kdl and variables/**/*.kdl (as in FleetFlow): move it there",
			"%s は %s で定義されていますが、テンプレート変数になるのは .fleetflow/fleet.kdl と variables/**/*.kdl の variables だけです（FleetFlow と同じ）。そちらに移してください", name, where))
	}
	return e.WithRemedies(
		// FleetFlow's own hint.
		txt("define it in a variables block, or add it to a .env file", "variables ブロックで定義するか、.env ファイルに追加してください"),
		txt("template variables: variables in .fleetflow/fleet.kdl and variables/**/*.kdl (top level, and the stage's), .env, .env.external, .env.<stage>, and FLEET_*, CI_*, APP_* environment variables; {{ x | default(value=\"…\") }} gives a default",
			"テンプレート変数: .fleetflow/fleet.kdl と variables/**/*.kdl の variables（トップレベルとステージのもの）、.env、.env.external、.env.<stage>、環境変数 FLEET_*・CI_*・APP_*。{{ x | default(value=\"…\") }} で既定値を指定できます"))
}

// templateContext gathers the template variables, later sources winning, as FleetFlow does:
// PROJECT_ROOT, .env, .env.external, .env.<stage>, the FLEET_*, CI_* and APP_* environment
// variables (with FLEET_STAGE set to the stage), then the `variables` blocks (top level, then the
// stage's) of the root file and of each variables/**/*.kdl file.
func (l *loader) templateContext(lay *layout) error {
	ctx := map[string]any{"PROJECT_ROOT": l.cfg.Root}
	l.cfg.template = ctx
	for _, f := range []string{lay.env, lay.envExtern, lay.envStage} {
		if f == "" {
			continue
		}
		raw, err := l.read(f, "")
		if err != nil {
			return err
		}
		l.variableFiles = append(l.variableFiles, f)
		for k, v := range parseDotenv(raw) {
			ctx[k] = variableValue(v)
		}
	}
	for _, kv := range l.opts.Environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FLEET_") || strings.HasPrefix(k, "CI_") || strings.HasPrefix(k, "APP_") {
			ctx[k] = v
		}
	}
	if l.opts.Stage != "" {
		ctx["FLEET_STAGE"] = l.opts.Stage
	}
	for _, f := range append([]string{lay.root}, lay.variables...) {
		raw, err := l.read(f, "")
		if err != nil {
			return err
		}
		if f != lay.root {
			l.variableFiles = append(l.variableFiles, f)
		}
		if err := l.collectVariables(f, raw, ctx); err != nil {
			return err
		}
	}
	// Variables defined where FleetFlow does not look for template variables, for the hint of an
	// undefined-variable error.
	l.elsewhere = map[string]string{}
	for _, f := range slices.Concat(lay.services, lay.stages, []string{lay.stageOverride, lay.localOverride, lay.cloud}) {
		if f == "" {
			continue
		}
		// A file that cannot be read is reported when the document is loaded.
		if raw, err := l.read(f, ""); err == nil {
			for _, b := range scanVariables(raw) {
				for _, name := range blockNames(raw, b) {
					if _, known := ctx[name]; !known {
						l.elsewhere[name] = f
					}
				}
			}
		}
	}
	return nil
}

// collectVariables adds the top-level variables of a file, then those of the stage, to ctx.
func (l *loader) collectVariables(file, raw string, ctx map[string]any) error {
	blocks := scanVariables(raw)
	for _, stageBlocks := range []bool{false, true} {
		for _, b := range blocks {
			if (b.stage != "") != stageBlocks || stageBlocks && b.stage != l.opts.Stage {
				continue
			}
			vars, err := l.blockVariables(file, raw, b, ctx)
			if err != nil {
				return err
			}
			maps.Copy(ctx, vars)
		}
	}
	return nil
}

// blockVariables parses one variables block found by scanVariables. A block whose values hold
// templates is rendered first, with the variables known so far.
func (l *loader) blockVariables(file, raw string, b variablesBlock, ctx map[string]any) (map[string]any, error) {
	span := raw[b.start:b.end]
	if tera.Blank(span) != span {
		out, err := tera.Render(span, ctx, tera.Options{Lenient: l.opts.lenient})
		var te *tera.Error
		if errors.As(err, &te) {
			line, col := lineCol(raw, b.start)
			if te.Line == 1 {
				te.Column += col - 1
			}
			te.Line += line - 1
			return nil, l.templateError(file, te)
		}
		if err != nil {
			return nil, err
		}
		span = out
	}
	// Blank out what comes before the block, so that positions in errors are the file's own.
	text := blankText(raw[:b.start]) + span
	doc, err := kdlv2.Parse([]byte(text))
	var se *kdlv2.SyntaxError
	if errors.As(err, &se) {
		return nil, configErr(ErrInvalidConfig, "KDL syntax error", "KDL の構文エラーです").
			WithTarget(sprintf("%s:%d:%d", file, se.Line, se.Column)).
			WithReason(usererr.T(se.Msg, se.MsgJa))
	}
	if err != nil {
		return nil, err
	}
	vars := map[string]any{}
	for _, n := range doc.Nodes {
		for _, v := range n.Children {
			if len(v.Arguments) == 0 {
				vars[nodeName(v)] = ""
				continue
			}
			vars[nodeName(v)] = kdlValue(v.Arguments[0])
		}
	}
	return vars, nil
}

// blockNames lists the variable names of a block without evaluating anything.
func blockNames(raw string, b variablesBlock) []string {
	doc, err := kdlv2.Parse([]byte(tera.Blank(raw[b.start:b.end])))
	if err != nil {
		return nil
	}
	var names []string
	for _, n := range doc.Nodes {
		for _, v := range n.Children {
			names = append(names, nodeName(v))
		}
	}
	return names
}

func blankText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return r
		}
		return ' '
	}, s)
}

func lineCol(s string, off int) (int, int) {
	before := s[:off]
	start := strings.LastIndexByte(before, '\n') + 1
	return strings.Count(before, "\n") + 1, len([]rune(before[start:])) + 1
}

// kdlValue turns a KDL value into a template value of the same type, as FleetFlow does: strings,
// integers, floats, booleans, and null.
func kdlValue(v *document.Value) any {
	switch x := v.ResolvedValue().(type) {
	case string:
		return variableValue(x)
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return x.String()
	case *big.Float:
		f, _ := x.Float64()
		return f
	case int:
		return int64(x)
	case int64, float64, bool, nil:
		return x
	default:
		return sprintf("%v", x)
	}
}

// variableValue is a string variable; a 1Password reference (op://…), which FleetFlow resolves
// with the 1Password CLI, fails only where a template uses it: flow build does not run other
// programs to read secrets.
func variableValue(s string) any {
	if strings.HasPrefix(s, "op://") {
		return tera.Unavailable{
			En: "it is a 1Password reference (op://…), which flow build does not resolve; set the value in the environment instead, e.g. APP_X=$(op read 'op://…')",
			Ja: "1Password の参照（op://…）で、flow build は解決しません。代わりに環境変数で値を渡してください（例: APP_X=$(op read 'op://…')）",
		}
	}
	return s
}

// nodeCtx carries what a node handler needs to read values and to report errors.
type nodeCtx struct {
	l     *loader
	file  string
	where string
}

func (c nodeCtx) child(n *document.Node) nodeCtx {
	label := nodeName(n)
	if len(n.Arguments) > 0 {
		if s, ok := scalarText(n.Arguments[0]); ok {
			label += " " + strconv.Quote(s)
		}
	}
	if c.where != "" {
		label = c.where + " > " + label
	}
	return nodeCtx{l: c.l, file: c.file, where: label}
}

func (c nodeCtx) errorf(reason usererr.Text, remedies ...usererr.Text) error {
	return nodeError(c.file, c.where, reason, remedies...)
}

func (c nodeCtx) warn(w usererr.Text) {
	where := c.file
	if c.where != "" {
		where += ": " + c.where
	}
	c.l.cfg.Warnings = append(c.l.cfg.Warnings, usererr.T(where+": "+w.En, where+": "+w.Ja))
}

func nodeName(n *document.Node) string {
	if n.Name == nil {
		return ""
	}
	s, _ := scalarText(n.Name)
	return s
}

// scalarText renders a KDL value as text: strings as they are, numbers and booleans in decimal
// form (so `PORT 8080` works as a build arg); null gives false.
func scalarText(v *document.Value) (string, bool) {
	if v == nil {
		return "", false
	}
	switch x := v.ResolvedValue().(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case *big.Int:
		return x.String(), true
	case *big.Float:
		return x.Text('g', -1), true
	default:
		return sprintf("%v", x), true
	}
}

// str reads a value and expands `${VAR}` in strings.
func (c nodeCtx) str(v *document.Value) (string, bool) {
	s, ok := scalarText(v)
	if !ok {
		return "", false
	}
	if _, isString := v.ResolvedValue().(string); isString {
		s = expandEnv(s, c.l.opts.Getenv)
	}
	return s, true
}

// arg reads the single value of a field node such as `dockerfile "path"`.
func (c nodeCtx) arg(n *document.Node) (string, error) {
	name := nodeName(n)
	if len(n.Arguments) == 0 {
		return "", c.errorf(txt("%s needs a value, e.g. %s \"…\"", "%s には値が必要です（例: %s \"…\"）", name, name))
	}
	s, ok := c.str(n.Arguments[0])
	if !ok {
		return "", c.errorf(txt("%s needs a string value, not null", "%s には null ではなく文字列を指定してください", name))
	}
	return s, nil
}

// keyValues reads a block of `KEY "value"` children (variables, build_args, args). A key without
// a value maps to "", as in FleetFlow.
func (c nodeCtx) keyValues(n *document.Node, into map[string]string) {
	for _, kv := range n.Children {
		v := ""
		if len(kv.Arguments) > 0 {
			v, _ = c.str(kv.Arguments[0])
		}
		into[nodeName(kv)] = v
	}
}

func (l *loader) topLevel(file string, n *document.Node, chain []string) error {
	c := nodeCtx{l: l, file: file}.child(n)
	switch name := nodeName(n); name {
	case "project":
		v, err := c.arg(n)
		if err != nil {
			return err
		}
		l.cfg.Project = v
	case "registry":
		reg, err := c.arg(n)
		if err != nil {
			return err
		}
		l.cfg.Registry = reg
	case "variables":
		c.keyValues(n, l.cfg.Variables)
	case "service":
		svc, spec, err := c.service(n)
		if err != nil {
			return err
		}
		spec.defined = true
		if cur, ok := l.cfg.services[svc]; ok {
			cur.merge(spec)
		} else {
			l.cfg.services[svc] = spec
			l.cfg.serviceOrder = append(l.cfg.serviceOrder, svc)
		}
	case "stage":
		return c.stage(n)
	case "include":
		return l.include(c, file, n, chain)
	default:
		// provider, server, tenant, cloud … belong to other FleetFlow commands.
		c.suggest(name, topLevelNodes, "top-level node", "トップレベルのノード")
	}
	return nil
}

// include loads the files an `include "path-or-glob"` names, relative to the including file, as
// FleetFlow's library does (its CLI ignores includes). Each file is loaded once.
func (l *loader) include(c nodeCtx, file string, n *document.Node, chain []string) error {
	pattern, err := c.arg(n)
	if err != nil {
		return err
	}
	via := sprintf("%s: include %q", file, pattern)
	p := absFrom(filepath.Dir(file), pattern)
	if !strings.ContainsAny(pattern, "*?[") {
		if _, err := os.Stat(p); err != nil {
			return c.errorf(txt("the included file %s does not exist", "include されたファイル %s が存在しません", p),
				txt("fix the path; it is relative to %s", "パスを修正してください（%s からの相対パスです）", filepath.Dir(file)))
		}
		return l.loadFile(p, chain, via)
	}
	// FleetFlow expands glob includes; an empty match is not an error there either.
	matches, err := filepath.Glob(p)
	if err != nil {
		return c.errorf(txt("invalid include pattern %q: %v", "include のパターン %q が不正です: %v", pattern, err))
	}
	if len(matches) > maxConfigFiles {
		return l.budgetError(via, txt("the pattern matches %d files, more than the %d a project may read", "パターンが %d 個のファイルに一致します（読み込めるのは %d 個までです）", len(matches), maxConfigFiles))
	}
	// Refuse an include that would go over the size budget before reading (and parsing) any of it.
	var size int64
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
	}
	if l.size+size > maxTotalSize {
		return l.budgetError(via, txt("the config files add up to more than %d MiB", "設定ファイルの合計が %d MiB を超えています", maxTotalSize>>20))
	}
	slices.Sort(matches)
	for _, m := range matches {
		if err := l.loadFile(m, chain, via); err != nil {
			return err
		}
	}
	return nil
}

// serviceNameRe is Docker's container-name rule, which FleetFlow's service names must follow
// since they name containers; it also keeps names from escaping the project in Dockerfile lookup.
var serviceNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func (c nodeCtx) serviceName(v *document.Value) (string, error) {
	name, ok := c.str(v)
	if !ok || name == "" {
		return "", c.errorf(txt("a service needs a name, e.g. service \"api\" { … }", "サービスには名前が必要です（例: service \"api\" { … }）"))
	}
	if !serviceNameRe.MatchString(name) {
		return "", c.errorf(txt("invalid service name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit",
			"サービス名 %q が不正です: 英数字と '.'、'_'、'-' を使い、英数字で始めてください", name))
	}
	return name, nil
}

// service parses a `service "name" image=… registry=… { … }` node, at top level or in a stage.
func (c nodeCtx) service(n *document.Node) (string, *serviceSpec, error) {
	if len(n.Arguments) == 0 {
		return "", nil, c.errorf(txt("a service needs a name, e.g. service \"api\" { … }", "サービスには名前が必要です（例: service \"api\" { … }）"))
	}
	name, err := c.serviceName(n.Arguments[0])
	if err != nil {
		return "", nil, err
	}
	spec := &serviceSpec{}
	for key, dst := range map[string]**string{"image": &spec.image, "registry": &spec.registry} {
		if v, ok := n.Properties.Get(key); ok {
			s, ok := c.str(v)
			if !ok {
				return "", nil, c.errorf(txt("property %s= needs a string value", "プロパティ %s= には文字列を指定してください", key))
			}
			*dst = &s
		}
	}
	if err := c.serviceFields(n.Children, spec, false); err != nil {
		return "", nil, err
	}
	return name, spec, nil
}

// serviceFields reads the children of a service block, or of its nested `build` block (inBuild),
// where `args` replaces the flat `build_args`. Unlike FleetFlow, where a nested `build {}`
// replaces every build setting written before it and a later service block replaces the whole
// build configuration, settings merge field by field: a block changes only what it names.
func (c nodeCtx) serviceFields(children []*document.Node, spec *serviceSpec, inBuild bool) error {
	for _, ch := range children {
		cc := c.child(ch)
		name := nodeName(ch)
		var dst **string
		switch name {
		case "image", "registry":
			if inBuild {
				cc.warn(txt("%s inside build {} is ignored (FleetFlow reads it only in the service block)", "build {} の中の %s は無視されます（FleetFlow はサービスのブロック内のものだけを読みます）", name))
				continue
			}
			dst = map[string]**string{"image": &spec.image, "registry": &spec.registry}[name]
		case "dockerfile":
			dst = &spec.dockerfile
		case "context":
			dst = &spec.context
		case "target":
			dst = &spec.target
		case "image_tag":
			// The local tag of FleetFlow's docker build (its MCP server reads it; `fleet build`
			// does not). It still makes the service one with build settings, as in FleetFlow.
			if _, err := cc.arg(ch); err != nil {
				return err
			}
			spec.build = true
			cc.warn(txt("image_tag is ignored: the image pushed is image (or <registry>/<project>-<service>) with --tag", "image_tag は無視されます: プッシュされるのは image（または <registry>/<project>-<service>）と --tag です"))
			continue
		case "no_cache":
			b, err := cc.boolean(ch)
			if err != nil {
				return err
			}
			spec.noCache = &b
			spec.build = true
			continue
		case "platform", "platforms":
			// FleetFlow's own --platform takes one value; several, as arguments or a comma list,
			// build a multi-platform image.
			if len(ch.Arguments) == 0 {
				return cc.errorf(txt("%s needs at least one platform, e.g. %s \"linux/amd64\" \"linux/arm64\"", "%s には少なくとも1つのプラットフォームを指定してください（例: %s \"linux/amd64\" \"linux/arm64\"）", name, name))
			}
			var list []string
			for _, a := range ch.Arguments {
				v, ok := cc.str(a)
				if !ok {
					return cc.errorf(txt("%s needs string values such as \"linux/arm64\"", "%s には \"linux/arm64\" のような文字列を指定してください", name))
				}
				list = append(list, SplitList(v)...)
			}
			spec.platforms = list
			spec.build = true
			continue
		case "build_args", "args":
			if (name == "args") != inBuild {
				if inBuild {
					cc.warn(txt("build_args inside build {} is ignored, as in FleetFlow: write args { … } there", "build {} の中の build_args は FleetFlow と同じく無視されます: そこでは args { … } と書いてください"))
				} else {
					cc.warn(txt("args outside build {} is ignored, as in FleetFlow: write build_args { … } there, or move it into build { … }", "build {} の外の args は FleetFlow と同じく無視されます: build_args { … } と書くか、build { … } の中に移してください"))
				}
				continue
			}
			if spec.buildArgs == nil {
				spec.buildArgs = map[string]string{}
			}
			spec.build = true
			cc.keyValues(ch, spec.buildArgs)
			continue
		case "build":
			if inBuild {
				cc.suggest(name, buildFields, "build field", "build の項目")
				continue
			}
			if ch.Children == nil {
				continue // `build "."` or a bare `build`: FleetFlow ignores it
			}
			spec.build = true
			if err := cc.serviceFields(ch.Children, spec, true); err != nil {
				return err
			}
			continue
		default:
			if inBuild {
				cc.suggest(name, buildFields, "build field", "build の項目")
			} else {
				// ports, env, volumes, healthcheck, depends_on … configure running, not building.
				cc.suggest(name, serviceFieldNames, "service field", "サービスの項目")
			}
			continue
		}
		s, err := cc.arg(ch)
		if err != nil {
			return err
		}
		*dst = &s
		if dst != &spec.image && dst != &spec.registry {
			spec.build = true
		}
	}
	return nil
}

// boolean reads `no_cache #true` (v2) or `no_cache true` (v1); a bare `no_cache` means true.
func (c nodeCtx) boolean(n *document.Node) (bool, error) {
	if len(n.Arguments) == 0 {
		return true, nil
	}
	if b, ok := n.Arguments[0].ResolvedValue().(bool); ok {
		return b, nil
	}
	return false, c.errorf(txt("expects #true or #false", "#true か #false を指定してください"))
}

// stage parses `stage "name" { service "a"; service "b" { … }; variables { … }; registry "…" }`.
// A later stage block of the same name replaces the earlier one, as in FleetFlow: an override file
// that restates `stage "prod" { … }` sets prod's service list. The stage's service blocks are
// kept when the later block has none of its own, also as in FleetFlow.
func (c nodeCtx) stage(n *document.Node) error {
	if len(n.Arguments) == 0 {
		return c.errorf(txt("a stage needs a name, e.g. stage \"prod\" { service \"api\" }", "ステージには名前が必要です（例: stage \"prod\" { service \"api\" }）"))
	}
	name, ok := c.str(n.Arguments[0])
	if !ok || name == "" {
		return c.errorf(txt("a stage needs a name, e.g. stage \"prod\" { service \"api\" }", "ステージには名前が必要です（例: stage \"prod\" { service \"api\" }）"))
	}
	cfg := c.l.cfg
	st := &stageSpec{overrides: map[string]*serviceSpec{}, variables: map[string]string{}, file: c.file}
	for _, ch := range n.Children {
		cc := c.child(ch)
		switch child := nodeName(ch); child {
		case "service":
			if len(ch.Arguments) == 0 {
				return cc.errorf(txt("a stage's service needs a name, e.g. service \"api\"", "ステージのサービスには名前が必要です（例: service \"api\"）"))
			}
			// `service "a" "b"` lists several at once; a block then applies to each of them.
			for _, arg := range ch.Arguments {
				svc, err := cc.serviceName(arg)
				if err != nil {
					return err
				}
				if !slices.Contains(st.services, svc) {
					st.services = append(st.services, svc)
				}
				if ch.Children == nil && ch.Properties.Len() == 0 {
					continue
				}
				_, spec, err := cc.service(&document.Node{Name: ch.Name, Arguments: []*document.Value{arg}, Properties: ch.Properties, Children: ch.Children})
				if err != nil {
					return err
				}
				if cur, ok := st.overrides[svc]; ok {
					cur.merge(spec)
				} else {
					st.overrides[svc] = spec
				}
			}
		case "variables":
			cc.keyValues(ch, st.variables)
		case "registry":
			reg, err := cc.arg(ch)
			if err != nil {
				return err
			}
			st.registry = &reg
		default:
			// server, backend … are deployment settings.
			cc.suggest(child, stageFields, "stage field", "ステージの項目")
		}
	}
	if old, ok := cfg.stages[name]; ok {
		if len(st.overrides) == 0 {
			st.overrides = old.overrides
		}
	} else {
		cfg.stageOrder = append(cfg.stageOrder, name)
	}
	cfg.stages[name] = st
	return nil
}

// Stages returns the names of the stages defined, sorted.
func (c *Config) Stages() []string {
	return slices.Sorted(slices.Values(c.stageOrder))
}

// Services returns the names of the services defined by top-level `service` blocks, sorted.
func (c *Config) Services() []string {
	var names []string
	for _, s := range c.serviceOrder {
		if c.services[s].defined {
			names = append(names, s)
		}
	}
	slices.Sort(names)
	return names
}

// StageServices returns the services a stage lists, in the order written.
func (c *Config) StageServices(stage string) ([]string, error) {
	st, ok := c.stages[stage]
	if !ok {
		return nil, c.unknownStage(stage)
	}
	return slices.Clone(st.services), nil
}

// unknownStage is FleetFlow's `ステージ 'X' が見つかりません`, with the stages to choose from.
func (c *Config) unknownStage(stage string) error {
	e := configErr(ErrUnknownStage, sprintf("stage '%s' not found", stage), sprintf("ステージ '%s' が見つかりません", stage)).WithTarget(c.File)
	if len(c.stages) == 0 {
		return e.WithLines(txt("the project defines no stages", "このプロジェクトにはステージが定義されていません")).
			WithRemedies(txt("add one listing the services to build, e.g. stage %q { service \"api\" }", "ビルドするサービスを並べたステージを追加してください（例: stage %q { service \"api\" }）", stage))
	}
	return e.WithLines(txt("available stages: %s", "利用可能なステージ: %s", strings.Join(c.Stages(), ", ")))
}
