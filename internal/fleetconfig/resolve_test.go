package fleetconfig

import (
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/usererr"
)

// buildOf returns the build of service svc, failing the test when there is none.
func buildOf(t *testing.T, p *Plan, svc string) Build {
	t.Helper()
	for _, b := range p.Builds {
		if b.Service == svc {
			return b
		}
	}
	t.Fatalf("no build for %q in %+v", svc, p)
	return Build{}
}

func argsOf(b Build) string {
	var parts []string
	for _, a := range b.BuildArgs {
		parts = append(parts, a.Name+"="+a.Value)
	}
	return strings.Join(parts, " ")
}

func servicesOf(p *Plan) (built, skipped []string) {
	for _, b := range p.Builds {
		built = append(built, b.Service)
	}
	for _, s := range p.Skipped {
		skipped = append(skipped, s.Service)
	}
	return built, skipped
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // the config is flow.kdl unless path says otherwise
		path  string
		stage string
		opts  ResolveOptions
		env   map[string]string
		check func(t *testing.T, p *Plan, root string)
	}{
		{
			name: "flat build fields",
			files: map[string]string{
				"flow.kdl": `
project "shop"
service "api" {
    dockerfile "./docker/api.Dockerfile"
    context "./services/api"
    target "production"
    build_args { NODE_VERSION "22"; PORT 8080 }
    image "ghcr.io/acme/api:main"
    image_tag "api:dev"
}
stage "prod" { service "api" }`,
				"docker/api.Dockerfile": "FROM scratch",
				"services/api/":         "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				b := buildOf(t, p, "api")
				want := Build{
					Service: "api", Image: "ghcr.io/acme/api:main",
					Dockerfile: filepath.Join(root, "docker", "api.Dockerfile"), DockerfileRel: "./docker/api.Dockerfile",
					Context: filepath.Join(root, "services", "api"), ContextRel: "./services/api",
					Target: "production",
				}
				if argsOf(b) != "NODE_VERSION=22 PORT=8080" {
					t.Errorf("build args = %s", argsOf(b))
				}
				b.BuildArgs = nil
				if !reflect.DeepEqual(b, want) {
					t.Errorf("build =\n%+v\nwant\n%+v", b, want)
				}
				if p.Project != "shop" || p.Stage != "prod" {
					t.Errorf("plan project/stage = %s/%s", p.Project, p.Stage)
				}
			},
		},
		{
			name: "platforms: FleetFlow's single platform, a list, a comma list, a stage override and --platform",
			files: map[string]string{
				"flow.kdl": `
service "api" { dockerfile "Dockerfile"; platform "linux/arm64" }
service "web" { dockerfile "Dockerfile"; platforms "linux/amd64" "linux/arm64/v8" }
service "worker" { build { dockerfile "Dockerfile"; platforms "linux/amd64, linux/arm/v7" } }
service "cron" { dockerfile "Dockerfile" }
stage "prod" { service "api"; service "web"; service "worker"; service "cron" }
stage "edge" { service "api" { platforms "linux/arm64" "linux/riscv64" }; service "cron" }`,
				"Dockerfile": "FROM scratch",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, _ string) {
				for svc, want := range map[string][]string{
					"api": {"linux/arm64"}, "web": {"linux/amd64", "linux/arm64/v8"},
					"worker": {"linux/amd64", "linux/arm/v7"}, "cron": nil,
				} {
					if got := buildOf(t, p, svc).Platforms; !slices.Equal(got, want) {
						t.Errorf("%s platforms = %v, want %v", svc, got, want)
					}
				}
			},
		},
		{
			name: "a stage's block overrides the service's platforms",
			files: map[string]string{
				"flow.kdl": `
service "api" { dockerfile "Dockerfile"; platform "linux/arm64" }
stage "edge" { service "api" { platforms "linux/arm64" "linux/riscv64" } }`,
				"Dockerfile": "FROM scratch",
			},
			stage: "edge",
			check: func(t *testing.T, p *Plan, _ string) {
				if got := buildOf(t, p, "api").Platforms; !slices.Equal(got, []string{"linux/arm64", "linux/riscv64"}) {
					t.Errorf("platforms = %v", got)
				}
			},
		},
		{
			name: "--platform replaces every service's platforms",
			files: map[string]string{
				"flow.kdl":   "service \"api\" { dockerfile \"Dockerfile\"; platform \"linux/arm64\" }\nservice \"web\" { dockerfile \"Dockerfile\" }\nstage \"prod\" { service \"api\"; service \"web\" }",
				"Dockerfile": "FROM scratch",
			},
			stage: "prod",
			opts:  ResolveOptions{Platforms: []string{"linux/amd64", "linux/arm64"}},
			check: func(t *testing.T, p *Plan, _ string) {
				for _, svc := range []string{"api", "web"} {
					if got := buildOf(t, p, svc).Platforms; !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
						t.Errorf("%s platforms = %v", svc, got)
					}
				}
			},
		},
		{
			name: "nested build block with args and no_cache #true",
			files: map[string]string{
				"flow.kdl": `
service "api" {
    build {
        dockerfile "api/Dockerfile.prod"
        context "api"
        target "runtime"
        args { GO_VERSION "1.26" }
        no_cache #true
        image_tag "api:local"
    }
}
stage "prod" { service "api" }`,
				"api/Dockerfile.prod": "FROM scratch",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				b := buildOf(t, p, "api")
				if b.DockerfileRel != "./api/Dockerfile.prod" || b.ContextRel != "./api" || b.Target != "runtime" || !b.NoCache {
					t.Errorf("build = %+v", b)
				}
				if argsOf(b) != "GO_VERSION=1.26" {
					t.Errorf("build args = %s", argsOf(b))
				}
			},
		},
		{
			name: "flat build_args and nested args merge; args outside build is not a build arg",
			files: map[string]string{
				"flow.kdl": `
service "api" {
    build_args { FLAT "f"; BOTH "flat" }
    build { args { NESTED "n"; BOTH "nested" } }
    args { IGNORED "x" }
}
stage "prod" { service "api" }`,
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if got := argsOf(buildOf(t, p, "api")); got != "BOTH=nested FLAT=f NESTED=n" {
					t.Errorf("build args = %s", got)
				}
			},
		},
		{
			name: "v1 `no_cache true` and bare no_cache; --no-cache forces all",
			files: map[string]string{
				"flow.kdl": `
service "api" { build { no_cache true } }
service "web" { no_cache }
service "worker" { build { no_cache #false } }
stage "prod" { service "api"; service "web"; service "worker" }`,
				"services/api/Dockerfile": "", "services/web/Dockerfile": "", "services/worker/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if !buildOf(t, p, "api").NoCache || !buildOf(t, p, "web").NoCache || buildOf(t, p, "worker").NoCache {
					t.Errorf("no_cache = api %v web %v worker %v", buildOf(t, p, "api").NoCache,
						buildOf(t, p, "web").NoCache, buildOf(t, p, "worker").NoCache)
				}
			},
		},
		{
			name: "--no-cache overrides no_cache #false",
			files: map[string]string{
				"flow.kdl":                `service "api" { build { no_cache #false } }` + "\nstage \"prod\" { service \"api\" }",
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			opts:  ResolveOptions{NoCache: true},
			check: func(t *testing.T, p *Plan, root string) {
				if !buildOf(t, p, "api").NoCache {
					t.Error("NoCache = false, want true from the option")
				}
			},
		},
		{
			name: "stage block overrides the service for that stage only",
			files: map[string]string{
				"flow.kdl": `
service "worker" { target "dev"; build_args { LOG "debug"; KEEP "k" } }
stage "prod" { service "worker" { target "prod"; build_args { LOG "info" } } }
stage "dev" { service "worker" }`,
				"services/worker/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				b := buildOf(t, p, "worker")
				if b.Target != "prod" || argsOf(b) != "KEEP=k LOG=info" {
					t.Errorf("prod worker target %q args %s", b.Target, argsOf(b))
				}
			},
		},
		{
			name: "stage variables override top-level ones in {VAR}; unknown {VAR} stays",
			files: map[string]string{
				"flow.kdl": `
variables { NODE "20"; BASE "alpine" }
service "api" { build_args { IMAGE "node:{NODE}-{BASE}"; JSON "{\"a\":1} {UNKNOWN}" } }
stage "prod" { service "api"; variables { NODE "22" } }`,
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if got := argsOf(buildOf(t, p, "api")); got != `IMAGE=node:22-alpine JSON={"a":1} {UNKNOWN}` {
					t.Errorf("build args = %s", got)
				}
			},
		},
		{
			name: "${VAR} and ${VAR:-default} expand from the environment",
			files: map[string]string{
				"flow.kdl": `
service "api" {
    image "${REGISTRY:-ghcr.io/acme}/api:${TAG}"
    dockerfile "${DF_DIR}/Dockerfile"
    build_args { SHA "${GIT_SHA:-unknown}"; UNSET "[${NOPE}]"; EMPTY_DEFAULT "${EMPTY:-d}" }
}
stage "prod" { service "api" }`,
				"build/Dockerfile": "",
			},
			env:   map[string]string{"TAG": "v1", "DF_DIR": "build", "EMPTY": ""},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				b := buildOf(t, p, "api")
				if b.Image != "ghcr.io/acme/api:v1" || b.DockerfileRel != "./build/Dockerfile" {
					t.Errorf("image %q dockerfile %q", b.Image, b.DockerfileRel)
				}
				if got := argsOf(b); got != "EMPTY_DEFAULT=d SHA=unknown UNSET=[]" {
					t.Errorf("build args = %s", got)
				}
			},
		},
		{
			name: "services without a Dockerfile are skipped as pulled images",
			files: map[string]string{
				"flow.kdl": `
service "api" {}
service "db" { image "postgres:16" }
service "cache" image="redis:7"
stage "prod" { service "api"; service "db"; service "cache" }`,
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				built, skipped := servicesOf(p)
				// In the stage's order, as FleetFlow builds them.
				if !slices.Equal(built, []string{"api"}) || !slices.Equal(skipped, []string{"db", "cache"}) {
					t.Errorf("built %v skipped %v", built, skipped)
				}
				if p.Skipped[0].Reason != ReasonNoDockerfile {
					t.Errorf("reason = %q", p.Skipped[0].Reason)
				}
				if len(p.Warnings) != 0 {
					t.Errorf("warnings = %v", p.Warnings)
				}
			},
		},
		{
			name: "Dockerfile discovery: services/<name>/Dockerfile first",
			files: map[string]string{
				"flow.kdl":                `stage "prod" { service "api" }` + "\nservice \"api\" {}",
				"services/api/Dockerfile": "", "api/Dockerfile": "", "Dockerfile.api": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if got := buildOf(t, p, "api").DockerfileRel; got != "./services/api/Dockerfile" {
					t.Errorf("Dockerfile = %s", got)
				}
			},
		},
		{
			name: "Dockerfile discovery: <name>/Dockerfile second",
			files: map[string]string{
				"flow.kdl":       `stage "prod" { service "api" }` + "\nservice \"api\" {}",
				"api/Dockerfile": "", "Dockerfile.api": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if got := buildOf(t, p, "api").DockerfileRel; got != "./api/Dockerfile" {
					t.Errorf("Dockerfile = %s", got)
				}
			},
		},
		{
			name: "Dockerfile discovery: Dockerfile.<name> third, context defaults to the root",
			files: map[string]string{
				"flow.kdl":       `stage "prod" { service "api" }` + "\nservice \"api\" {}",
				"Dockerfile.api": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				b := buildOf(t, p, "api")
				if b.DockerfileRel != "./Dockerfile.api" || b.Context != root || b.ContextRel != "." {
					t.Errorf("Dockerfile %s context %s (%s)", b.DockerfileRel, b.Context, b.ContextRel)
				}
			},
		},
		{
			name: "project root is the parent of .fleetflow",
			files: map[string]string{
				".fleetflow/fleet.kdl":    `project "p"` + "\nservice \"api\" {}\nstage \"prod\" { service \"api\" }",
				"services/api/Dockerfile": "",
			},
			path:  ".fleetflow/fleet.kdl",
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				b := buildOf(t, p, "api")
				if b.Dockerfile != filepath.Join(root, "services", "api", "Dockerfile") || b.Context != root {
					t.Errorf("Dockerfile %s context %s", b.Dockerfile, b.Context)
				}
			},
		},
		{
			name: "registry: --registry beats all",
			files: map[string]string{
				"flow.kdl": `project "shop"
registry "top.io/o"
service "api" registry="svc.io/o" {}
stage "prod" { registry "stage.io/o"; service "api" }`,
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			opts:  ResolveOptions{Registry: "cli.io/o"},
			check: func(t *testing.T, p *Plan, root string) {
				if b := buildOf(t, p, "api"); b.Image != "cli.io/o/shop-api" || b.Registry != "cli.io/o" {
					t.Errorf("image %q registry %q", b.Image, b.Registry)
				}
			},
		},
		{
			name: "registry: service beats stage",
			files: map[string]string{
				"flow.kdl": `project "shop"
registry "top.io/o"
service "api" { registry "svc.io/o/" }
stage "prod" { registry "stage.io/o"; service "api" }`,
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if got := buildOf(t, p, "api").Image; got != "svc.io/o/shop-api" {
					t.Errorf("image = %q", got)
				}
			},
		},
		{
			name: "registry: stage beats top-level",
			files: map[string]string{
				"flow.kdl": `project "shop"
registry "top.io/o"
service "api" {}
stage "prod" { registry "stage.io/o"; service "api" }`,
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if got := buildOf(t, p, "api").Image; got != "stage.io/o/shop-api" {
					t.Errorf("image = %q", got)
				}
			},
		},
		{
			name: "registry: top-level applies last, and names the image <registry>/<project>-<service> even over image, keeping its tag",
			files: map[string]string{
				"flow.kdl": `project "shop"
registry "top.io/o"
service "api" {}
service "web" { image "ghcr.io/acme/web:main" }
stage "prod" { service "api"; service "web" }
stage "bare" { service "api" }`,
				"services/api/Dockerfile": "", "services/web/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if got := buildOf(t, p, "api").Image; got != "top.io/o/shop-api" {
					t.Errorf("api image = %q", got)
				}
				if got := buildOf(t, p, "web").Image; got != "top.io/o/shop-web:main" {
					t.Errorf("web image = %q", got)
				}
			},
		},
		{
			name: "no registry anywhere and no image: the image is the service name, as in FleetFlow",
			files: map[string]string{
				"flow.kdl":                `service "api" {}` + "\nstage \"prod\" { service \"api\" }",
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if b := buildOf(t, p, "api"); b.Image != "api" || b.Registry != "" {
					t.Errorf("image %q registry %q", b.Image, b.Registry)
				}
			},
		},
		{
			name: "secret-looking build arg names warn without the value",
			files: map[string]string{
				"flow.kdl": `
service "api" { build_args { DB_PASSWORD "hunter2"; GithubToken "ghp_abc"; NPM_API_KEY "k3y"; NODE_ENV "production" } }
stage "prod" { service "api" }`,
				"services/api/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if len(p.Warnings) != 3 {
					t.Fatalf("warnings = %q, want 3", p.Warnings)
				}
				all := warningsOf(p.Warnings)
				for _, name := range []string{"DB_PASSWORD", "GithubToken", "NPM_API_KEY"} {
					if !strings.Contains(all, name) {
						t.Errorf("warnings do not name %s: %q", name, all)
					}
				}
				for _, value := range []string{"hunter2", "ghp_abc", "k3y"} {
					if strings.Contains(all, value) {
						t.Errorf("warnings leak the value %q: %q", value, all)
					}
				}
			},
		},
		{
			name: "a stage that lists no service builds nothing, as in FleetFlow",
			files: map[string]string{
				"flow.kdl":                `service "api" {}` + "\nservice \"worker\" {}\nstage \"dev\" { variables { X \"1\" } }",
				"services/api/Dockerfile": "", "services/worker/Dockerfile": "",
			},
			stage: "dev",
			check: func(t *testing.T, p *Plan, root string) {
				if built, skipped := servicesOf(p); len(built)+len(skipped) != 0 || !p.ListsNoServices {
					t.Errorf("built %v skipped %v ListsNoServices %v", built, skipped, p.ListsNoServices)
				}
			},
		},
		{
			name: "builds keep the stage's order and are limited to the services asked for",
			files: map[string]string{
				"flow.kdl": `service "web" {}
service "api" {}
service "worker" {}
stage "prod" { service "worker"; service "web"; service "api" }`,
				"services/api/Dockerfile": "", "services/worker/Dockerfile": "", "services/web/Dockerfile": "",
			},
			stage: "prod",
			opts:  ResolveOptions{Services: []string{"worker", "api", "worker"}},
			check: func(t *testing.T, p *Plan, root string) {
				if built, _ := servicesOf(p); !slices.Equal(built, []string{"worker", "api"}) {
					t.Errorf("built = %v", built)
				}
			},
		},
		{
			name: "a stage may list a service defined only by its stage block",
			files: map[string]string{
				"flow.kdl": `stage "prod" {
    service "tool" { dockerfile "tools/Dockerfile" }
}`,
				"tools/Dockerfile": "",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				built, skipped := servicesOf(p)
				if !slices.Equal(built, []string{"tool"}) || len(skipped) != 0 {
					t.Errorf("built %v skipped %v", built, skipped)
				}
			},
		},
		{
			name: "context reached through a symlink inside the project is fine",
			files: map[string]string{
				"flow.kdl":                `service "api" { context "link" }` + "\nstage \"prod\" { service \"api\" }",
				"services/api/Dockerfile": "",
				"real/":                   "",
				"link":                    "->real",
			},
			stage: "prod",
			check: func(t *testing.T, p *Plan, root string) {
				if b := buildOf(t, p, "api"); b.Context != filepath.Join(root, "real") || b.ContextRel != "./real" {
					t.Errorf("context %s (%s)", b.Context, b.ContextRel)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realTempDir(t)
			writeTree(t, root, tt.files)
			path := "flow.kdl"
			if tt.path != "" {
				path = tt.path
			}
			c, err := Load(filepath.Join(root, filepath.FromSlash(path)), LoadOptions{Getenv: envOf(tt.env)})
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			p, err := c.Resolve(tt.stage, tt.opts)
			if err != nil {
				t.Fatalf("Resolve() error = %v", err)
			}
			tt.check(t, p, root)
		})
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // the config is <root>/proj/flow.kdl; "@" in want is <root>/proj
		stage string
		opts  ResolveOptions
		is    []error
		want  []string
	}{
		{
			name:  "unknown stage lists the known ones",
			files: map[string]string{"proj/flow.kdl": `stage "prod" {}` + "\nstage \"dev\" {}"},
			stage: "qa",
			is:    []error{ErrUnknownStage},
			want:  []string{`stage 'qa' not found`, "available stages: dev, prod"},
		},
		{
			name:  "unknown stage when none is defined says how to add one",
			files: map[string]string{"proj/flow.kdl": `service "api" {}`},
			stage: "prod",
			is:    []error{ErrUnknownStage},
			want:  []string{"defines no stages", `stage "prod" { service "api" }`},
		},
		{
			name:  "unknown service lists the stage's services",
			files: map[string]string{"proj/flow.kdl": `stage "prod" { service "api"; service "worker" }`},
			stage: "prod",
			opts:  ResolveOptions{Services: []string{"web"}},
			is:    []error{ErrUnknownService},
			want:  []string{`service 'web' is not part of stage 'prod'`, `available services: api, worker`},
		},
		{
			name:  "build settings without a Dockerfile: FleetFlow skips it and reports success",
			files: map[string]string{"proj/flow.kdl": `service "api" { target "x" }` + "\nstage \"prod\" { service \"api\" }"},
			stage: "prod",
			is:    []error{ErrNoDockerfile},
			want:  []string{`service 'api' has build settings but no Dockerfile`, "services/api/Dockerfile, api/Dockerfile, Dockerfile.api"},
		},
		{
			name:  "a stage member that no service block defines: FleetFlow drops it silently",
			files: map[string]string{"proj/flow.kdl": `service "api" {}` + "\nstage \"prod\" { service \"api\"; service \"typo\" }", "proj/services/api/Dockerfile": ""},
			stage: "prod",
			is:    []error{ErrUndefinedService},
			want:  []string{`stage 'prod' lists service 'typo', which is not defined`, "defined services: api"},
		},
		{
			name:  "build-arg names and targets the API server would refuse",
			files: map[string]string{"proj/flow.kdl": `service "api" { target "my stage"; build_args { "my-arg" "x"; OK "1" } }` + "\nstage \"prod\" { service \"api\" }", "proj/services/api/Dockerfile": ""},
			stage: "prod",
			is:    []error{ErrInvalidBuildSetting},
			want:  []string{`target "my stage" is not a Dockerfile stage name`, `build arg name "my-arg" is not an ARG name`},
		},
		{
			name:  "a platform in uname's spelling",
			files: map[string]string{"proj/flow.kdl": `service "api" { dockerfile "Dockerfile"; platforms "linux/amd64" "linux/aarch64" }` + "\nstage \"prod\" { service \"api\" }", "proj/Dockerfile": "FROM scratch"},
			stage: "prod",
			is:    []error{ErrInvalidPlatform},
			want:  []string{`service 'api'`, `"linux/aarch64"`, "did you mean linux/arm64?"},
		},
		{
			name:  "a platform named twice",
			files: map[string]string{"proj/flow.kdl": `service "api" { dockerfile "Dockerfile"; platforms "linux/arm64,linux/arm64/v8" }` + "\nstage \"prod\" { service \"api\" }", "proj/Dockerfile": "FROM scratch"},
			stage: "prod",
			is:    []error{ErrInvalidPlatform},
			want:  []string{"listed twice"},
		},
		{
			name:  "missing explicit dockerfile names service, path and fix",
			files: map[string]string{"proj/flow.kdl": `service "api" { dockerfile "./docker/api.Dockerfile" }` + "\nstage \"prod\" { service \"api\" }"},
			stage: "prod",
			is:    []error{ErrDockerfileNotFound},
			want:  []string{`service "api"`, `"./docker/api.Dockerfile"`, "@/docker/api.Dockerfile", "relative to the project root @", "Error: Dockerfile not found"},
		},
		{
			name:  "missing context",
			files: map[string]string{"proj/flow.kdl": `service "api" { context "nope" }` + "\nstage \"prod\" { service \"api\" }", "proj/services/api/Dockerfile": ""},
			stage: "prod",
			is:    []error{ErrContextNotFound},
			want:  []string{`service "api": context "nope" is not an existing folder`},
		},
		{
			name: "context outside the project through ..",
			files: map[string]string{
				"proj/flow.kdl":                `service "api" { context "../outside" }` + "\nstage \"prod\" { service \"api\" }",
				"proj/services/api/Dockerfile": "",
				"outside/":                     "",
			},
			stage: "prod",
			is:    []error{ErrOutsideProject},
			want:  []string{`context "../outside"`, "outside the project root @"},
		},
		{
			name: "context outside the project through a symlink",
			files: map[string]string{
				"proj/flow.kdl":                `service "api" { build { context "sneaky" } }` + "\nstage \"prod\" { service \"api\" }",
				"proj/services/api/Dockerfile": "",
				"proj/sneaky":                  "->../outside",
				"outside/":                     "",
			},
			stage: "prod",
			is:    []error{ErrOutsideProject},
			want:  []string{`context "sneaky" resolves to`, "outside the project root @"},
		},
		{
			name: "Dockerfile outside the project through a symlink",
			files: map[string]string{
				"proj/flow.kdl":                `service "api" {}` + "\nstage \"prod\" { service \"api\" }",
				"proj/services/api/Dockerfile": "->../../../outside/Dockerfile",
				"outside/Dockerfile":           "FROM scratch",
			},
			stage: "prod",
			is:    []error{ErrOutsideProject},
			want:  []string{`dockerfile "services/api/Dockerfile"`},
		},
		{
			name: "every broken service is reported at once",
			files: map[string]string{
				"proj/flow.kdl": `service "api" { dockerfile "a.Dockerfile" }
service "web" { context "/nonexistent-context" }
stage "prod" { service "api"; service "web" }`,
				"proj/services/web/Dockerfile": "",
			},
			stage: "prod",
			is:    []error{ErrDockerfileNotFound, ErrContextNotFound},
			want:  []string{`service "api"`, `service "web"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realTempDir(t)
			writeTree(t, root, tt.files)
			c, err := Load(filepath.Join(root, "proj", "flow.kdl"), LoadOptions{Getenv: envOf(nil)})
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			p, err := c.Resolve(tt.stage, tt.opts)
			if err == nil {
				t.Fatalf("Resolve() = %+v, want an error", p)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("error %q does not match %v", err, target)
				}
			}
			msg := renderAll(err, usererr.English)
			for _, s := range tt.want {
				if s = strings.ReplaceAll(s, "@", filepath.Join(root, "proj")); !strings.Contains(msg, s) {
					t.Errorf("error =\n%s\nwant it to contain %q", msg, s)
				}
			}
		})
	}
}

// warningsOf joins the English text of warnings.
func warningsOf(ws []usererr.Text) string {
	var all []string
	for _, w := range ws {
		all = append(all, w.En)
	}
	return strings.Join(all, "\n")
}

// renderAll renders every user error in err (one, or several joined) as the user sees them.
func renderAll(err error, lang usererr.Lang) string {
	var joined interface{ Unwrap() []error }
	var ue *usererr.Error
	if errors.As(err, &ue) && ue == err {
		return ue.Render(lang)
	}
	if errors.As(err, &joined) {
		var parts []string
		for _, e := range joined.Unwrap() {
			parts = append(parts, renderAll(e, lang))
		}
		return strings.Join(parts, "\n")
	}
	return usererr.Format(err, lang)
}
