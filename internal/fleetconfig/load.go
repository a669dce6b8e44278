package fleetconfig

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sblinch/kdl-go/document"

	"github.com/fleetflow/flow-build/internal/kdlv2"
)

// Config is a loaded FleetFlow config: the project, its services and stages. Use Resolve to turn
// one stage into a build plan.
type Config struct {
	// Project is the `project "name"` node, or the name of the project root folder when absent.
	Project string
	// Root is the project root (see ProjectRoot), absolute, with symbolic links resolved.
	Root string
	// File is the absolute path of the config file that was loaded.
	File string
	// Files lists File and every file it included, in load order.
	Files []string
	// Registry is the top-level `registry "host/owner"`, or "".
	Registry string
	// Variables holds the top-level `variables { KEY "v" }`.
	Variables map[string]string

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
	s.defined = s.defined || o.defined
}

// hasBuildSettings reports fields that only make sense for a service that is built.
func (s *serviceSpec) hasBuildSettings() bool {
	return s.dockerfile != nil || s.context != nil || s.target != nil || s.noCache != nil || len(s.buildArgs) > 0 || s.platforms != nil
}

// stageSpec is one `stage` block (repeated blocks merge).
type stageSpec struct {
	services  []string
	overrides map[string]*serviceSpec
	variables map[string]string
	registry  *string
}

// maxConfigSize bounds each file read: config files are small, and the bound keeps an include of
// a device or a huge file from exhausting memory.
const maxConfigSize = 4 << 20

// maxIncludeDepth bounds include nesting beyond what cycle detection catches (e.g. globs that
// fan out).
const maxIncludeDepth = 32

// Load reads the config file at path and the files it includes. getenv supplies `${VAR}`
// expansion (nil means os.Getenv). Syntax errors are *SyntaxError (`file:line:col: message`);
// schema errors are *ConfigError; both match ErrInvalidConfig.
func Load(path string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("%w: %w; pass an existing file with -f or fix %s", ErrConfigNotFound, err, EnvConfigPath)
	}
	root, err := filepath.EvalSymlinks(ProjectRoot(abs))
	if err != nil {
		return nil, fmt.Errorf("%w: project root of %s: %w", ErrConfigNotFound, abs, err)
	}
	l := &loader{
		getenv: getenv,
		cfg: &Config{
			Root:      root,
			File:      abs,
			Variables: map[string]string{},
			services:  map[string]*serviceSpec{},
			stages:    map[string]*stageSpec{},
		},
	}
	if err := l.loadFile(abs, nil); err != nil {
		return nil, err
	}
	if l.cfg.Project == "" {
		// FleetFlow falls back to the folder name when `project` is absent.
		l.cfg.Project = filepath.Base(root)
	}
	return l.cfg, nil
}

type loader struct {
	cfg    *Config
	getenv func(string) string
}

// loadFile loads one file; chain holds the files being loaded around it, to detect cycles.
func (l *loader) loadFile(file string, chain []string) error {
	key := file
	if real, err := filepath.EvalSymlinks(file); err == nil {
		key = real
	}
	for i, c := range chain {
		if c == key {
			names := append(slices.Clone(chain[i:]), key)
			return &includeCycleError{chain: strings.Join(names, " includes ")}
		}
	}
	if len(chain) >= maxIncludeDepth {
		return &ConfigError{File: file, Msg: fmt.Sprintf("includes are nested more than %d deep; flatten them", maxIncludeDepth)}
	}
	data, err := readConfigFile(file)
	if err != nil {
		return err
	}
	doc, err := kdlv2.Parse(data)
	var se *kdlv2.SyntaxError
	if errors.As(err, &se) {
		return &SyntaxError{File: file, Line: se.Line, Column: se.Column, Msg: se.Msg, Excerpt: se.Excerpt}
	}
	if err != nil {
		return err
	}
	l.cfg.Files = append(l.cfg.Files, file)
	chain = append(chain, key)
	for _, n := range doc.Nodes {
		if err := l.topLevel(file, n, chain); err != nil {
			return err
		}
	}
	return nil
}

func readConfigFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	// The file is only read, so Close cannot lose data; its error would tell nothing.
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &ConfigError{File: file, Msg: "not a regular file; a config file or include must name a .kdl file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrInvalidConfig, file, err)
	}
	if len(data) > maxConfigSize {
		return nil, &ConfigError{File: file, Msg: fmt.Sprintf("larger than %d MiB; this is not a FleetFlow config", maxConfigSize>>20)}
	}
	return data, nil
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

func (c nodeCtx) errorf(format string, args ...any) error {
	return &ConfigError{File: c.file, Where: c.where, Msg: fmt.Sprintf(format, args...)}
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
		return fmt.Sprint(x), true
	}
}

// str reads a string value and expands `${VAR}` in it.
func (c nodeCtx) str(v *document.Value) (string, bool) {
	s, ok := scalarText(v)
	if !ok {
		return "", false
	}
	if _, isString := v.ResolvedValue().(string); isString {
		s = expandEnv(s, c.l.getenv)
	}
	return s, true
}

// arg reads the single value of a field node such as `dockerfile "path"`.
func (c nodeCtx) arg(n *document.Node) (string, error) {
	if len(n.Arguments) == 0 {
		return "", c.errorf("needs a value, e.g. %s \"…\"", nodeName(n))
	}
	s, ok := c.str(n.Arguments[0])
	if !ok {
		return "", c.errorf("needs a string value, not null")
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
	switch nodeName(n) {
	case "project":
		name, err := c.arg(n)
		if err != nil {
			return err
		}
		l.cfg.Project = name
	case "registry":
		reg, err := c.arg(n)
		if err != nil {
			return err
		}
		l.cfg.Registry = reg
	case "variables":
		c.keyValues(n, l.cfg.Variables)
	case "service":
		name, spec, err := c.service(n)
		if err != nil {
			return err
		}
		spec.defined = true
		if cur, ok := l.cfg.services[name]; ok {
			cur.merge(spec)
		} else {
			l.cfg.services[name] = spec
			l.cfg.serviceOrder = append(l.cfg.serviceOrder, name)
		}
	case "stage":
		return c.stage(n)
	case "include":
		return l.include(c, file, n, chain)
	default:
		// provider, server, tenant, workload … belong to other FleetFlow commands.
	}
	return nil
}

func (l *loader) include(c nodeCtx, file string, n *document.Node, chain []string) error {
	pattern, err := c.arg(n)
	if err != nil {
		return err
	}
	p := absFrom(filepath.Dir(file), pattern)
	if !strings.ContainsAny(pattern, "*?[") {
		if _, err := os.Stat(p); err != nil {
			return c.errorf("included file %s does not exist; fix the path (it is relative to %s)", p, filepath.Dir(file))
		}
		return l.loadFile(p, chain)
	}
	// FleetFlow expands glob includes; an empty match is not an error there either.
	matches, err := filepath.Glob(p)
	if err != nil {
		return c.errorf("invalid include pattern %q: %v", pattern, err)
	}
	slices.Sort(matches)
	for _, m := range matches {
		if err := l.loadFile(m, chain); err != nil {
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
		return "", c.errorf("a service needs a name, e.g. service \"api\" { … }")
	}
	if !serviceNameRe.MatchString(name) {
		return "", c.errorf("invalid service name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", name)
	}
	return name, nil
}

// service parses a `service "name" image=… registry=… { … }` node, at top level or in a stage.
func (c nodeCtx) service(n *document.Node) (string, *serviceSpec, error) {
	if len(n.Arguments) == 0 {
		return "", nil, c.errorf("a service needs a name, e.g. service \"api\" { … }")
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
				return "", nil, c.errorf("property %s= needs a string value", key)
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
// where `args` replaces the flat `build_args`.
func (c nodeCtx) serviceFields(children []*document.Node, spec *serviceSpec, inBuild bool) error {
	for _, ch := range children {
		cc := c.child(ch)
		name := nodeName(ch)
		var dst **string
		switch name {
		case "image", "registry":
			if inBuild {
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
			// The local tag of FleetFlow's docker build; pushing uses image and --tag instead.
			if _, err := cc.arg(ch); err != nil {
				return err
			}
			continue
		case "no_cache":
			b, err := cc.boolean(ch)
			if err != nil {
				return err
			}
			spec.noCache = &b
			continue
		case "platform", "platforms":
			// FleetFlow's own --platform takes one value; several, as arguments or a comma list,
			// build a multi-platform image.
			if len(ch.Arguments) == 0 {
				return cc.errorf("needs at least one platform, e.g. %s \"linux/amd64\" \"linux/arm64\"", name)
			}
			var list []string
			for _, a := range ch.Arguments {
				v, ok := cc.str(a)
				if !ok {
					return cc.errorf("needs string values such as \"linux/arm64\"")
				}
				list = append(list, SplitList(v)...)
			}
			spec.platforms = list
			continue
		case "build_args", "args":
			if (name == "args") != inBuild {
				continue // `args` outside build and `build_args` inside it are not FleetFlow's schema
			}
			if spec.buildArgs == nil {
				spec.buildArgs = map[string]string{}
			}
			cc.keyValues(ch, spec.buildArgs)
			continue
		case "build":
			if inBuild {
				continue
			}
			if err := cc.serviceFields(ch.Children, spec, true); err != nil {
				return err
			}
			continue
		default:
			// ports, env, volumes, healthcheck, depends_on … configure running, not building.
			continue
		}
		s, err := cc.arg(ch)
		if err != nil {
			return err
		}
		*dst = &s
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
	return false, c.errorf("expects #true or #false")
}

// stage parses `stage "name" { service "a"; service "b" { … }; variables { … }; registry "…" }`.
func (c nodeCtx) stage(n *document.Node) error {
	if len(n.Arguments) == 0 {
		return c.errorf("a stage needs a name, e.g. stage \"prod\" { service \"api\" }")
	}
	name, ok := c.str(n.Arguments[0])
	if !ok || name == "" {
		return c.errorf("a stage needs a name, e.g. stage \"prod\" { service \"api\" }")
	}
	cfg := c.l.cfg
	st, ok := cfg.stages[name]
	if !ok {
		// Repeated stage blocks (e.g. one per included file) add up, like service blocks do.
		st = &stageSpec{overrides: map[string]*serviceSpec{}, variables: map[string]string{}}
		cfg.stages[name] = st
		cfg.stageOrder = append(cfg.stageOrder, name)
	}
	for _, ch := range n.Children {
		cc := c.child(ch)
		switch nodeName(ch) {
		case "service":
			if len(ch.Arguments) == 0 {
				return cc.errorf("a stage's service needs a name, e.g. service \"api\"")
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
		}
	}
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

// StageServices returns the services of a stage in the order they are listed. A stage that lists
// no service stands for all services (see Resolve).
func (c *Config) StageServices(stage string) ([]string, error) {
	st, ok := c.stages[stage]
	if !ok {
		return nil, c.unknownStage(stage)
	}
	if len(st.services) == 0 {
		return c.Services(), nil
	}
	return slices.Clone(st.services), nil
}

func (c *Config) unknownStage(stage string) error {
	if len(c.stages) == 0 {
		return fmt.Errorf("%w %q: %s defines no stages; add one listing the services to build, e.g. stage %q { service \"api\" }",
			ErrUnknownStage, stage, c.File, stage)
	}
	return fmt.Errorf("%w %q: %s defines %s", ErrUnknownStage, stage, c.File, strings.Join(c.Stages(), ", "))
}
