package fleetconfig

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/usererr"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		path  string // the config file, relative to the root; default flow.kdl
		env   map[string]string
		check func(t *testing.T, c *Config, root string)
	}{
		{
			name: "project, registry, variables, stages and services",
			files: map[string]string{"flow.kdl": `
project "shop"
registry "ghcr.io/acme"
variables { A "1"; B 2 }
service "api" {}
service "db" image="postgres:16"
stage "prod" { service "api" }
stage "dev" { service "api"; service "db" }
`},
			check: func(t *testing.T, c *Config, root string) {
				if c.Project != "shop" || c.Registry != "ghcr.io/acme" {
					t.Errorf("project/registry = %q/%q", c.Project, c.Registry)
				}
				if c.Variables["A"] != "1" || c.Variables["B"] != "2" {
					t.Errorf("variables = %v (numbers must read as text)", c.Variables)
				}
				if got := c.Stages(); !slices.Equal(got, []string{"dev", "prod"}) {
					t.Errorf("Stages() = %v", got)
				}
				if got := c.Services(); !slices.Equal(got, []string{"api", "db"}) {
					t.Errorf("Services() = %v", got)
				}
				if got, _ := c.StageServices("dev"); !slices.Equal(got, []string{"api", "db"}) {
					t.Errorf("StageServices(dev) = %v", got)
				}
			},
		},
		{
			name: "project defaults to the root folder name, .fleetflow's parent",
			files: map[string]string{
				"flow.kdl":                    "// not this one",
				"myproj/.fleetflow/fleet.kdl": `service "api" {}`,
			},
			path: "myproj/.fleetflow/fleet.kdl",
			check: func(t *testing.T, c *Config, root string) {
				if c.Root != filepath.Join(root, "myproj") || c.Project != "myproj" {
					t.Errorf("Root %s Project %s, want the parent of .fleetflow and its name", c.Root, c.Project)
				}
			},
		},
		{
			name: "unknown nodes and service children are ignored",
			files: map[string]string{"flow.kdl": `
provider "sakura" { zone "is1a" }
server "web-1" { provider "sakura"; plan core=2 memory=4 }
tenant "t" {}
service "api" {
    ports { port host=8080 container=80 protocol="udp" }
    env { DATABASE_URL "postgres://db" }
    volumes { volume host="./data" container="/data" read_only=#true }
    healthcheck { test "CMD" "true"; interval 5 }
    depends_on "db" "cache"
    wait_for { max_retries 3 }
    restart "unless-stopped"
    image "ghcr.io/acme/api"
}
stage "prod" { server "web-1"; backend "docker"; service "api" }
`},
			check: func(t *testing.T, c *Config, root string) {
				if got := deref(c.services["api"].image); got != "ghcr.io/acme/api" {
					t.Errorf("image = %q", got)
				}
			},
		},
		{
			name: "repeated service blocks merge, later wins per field",
			files: map[string]string{"flow.kdl": `
service "api" { target "a"; dockerfile "x"; build_args { A "1"; B "1" } }
service "api" { target "b"; build_args { B "2" } }
`},
			check: func(t *testing.T, c *Config, root string) {
				s := c.services["api"]
				if deref(s.target) != "b" || deref(s.dockerfile) != "x" || s.buildArgs["A"] != "1" || s.buildArgs["B"] != "2" {
					t.Errorf("merged = target %q dockerfile %q args %v", deref(s.target), deref(s.dockerfile), s.buildArgs)
				}
			},
		},
		{
			name: "include is relative to the including file, nested, and inlined in order",
			files: map[string]string{
				"flow.kdl":             `project "p"` + "\ninclude \"conf/services.kdl\"\nregistry \"late\"",
				"conf/services.kdl":    `include "more/worker.kdl"` + "\nservice \"api\" {}\nregistry \"early\"",
				"conf/more/worker.kdl": `service "worker" {}`,
			},
			check: func(t *testing.T, c *Config, root string) {
				if got := c.Services(); !slices.Equal(got, []string{"api", "worker"}) {
					t.Errorf("Services() = %v", got)
				}
				if c.Registry != "late" {
					t.Errorf("registry = %q: nodes after an include must win", c.Registry)
				}
				if len(c.Files) != 3 {
					t.Errorf("Files = %v", c.Files)
				}
			},
		},
		{
			name: "glob include",
			files: map[string]string{
				"flow.kdl":          `include "services/*.kdl"`,
				"services/a.kdl":    `service "a" {}`,
				"services/b.kdl":    `service "b" {}`,
				"services/notes.md": `service "c" {}`,
			},
			check: func(t *testing.T, c *Config, root string) {
				if got := c.Services(); !slices.Equal(got, []string{"a", "b"}) {
					t.Errorf("Services() = %v", got)
				}
			},
		},
		{
			name:  "${VAR} expands in strings, also in include paths",
			files: map[string]string{"flow.kdl": `include "${CONF:-conf}.kdl"` + "\nproject \"${NAME}\"", "conf.kdl": `registry "${REG}/x"`},
			env:   map[string]string{"NAME": "envproj", "REG": "r.io"},
			check: func(t *testing.T, c *Config, root string) {
				if c.Project != "envproj" || c.Registry != "r.io/x" {
					t.Errorf("project %q registry %q", c.Project, c.Registry)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realTempDir(t)
			writeTree(t, root, tt.files)
			file := filepath.Join(root, "flow.kdl")
			if tt.path != "" {
				file = filepath.Join(root, filepath.FromSlash(tt.path))
			}
			c, err := Load(file, LoadOptions{Getenv: envOf(tt.env)})
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if c.File != file {
				t.Errorf("File = %s, want %s", c.File, file)
			}
			tt.check(t, c, root)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // the config is flow.kdl
		is      error
		want    []string // substrings of the message; "@" stands for the temporary root
		wantPos string   // for syntax errors: "file:line:col" relative to the root
	}{
		{
			name:    "unclosed string",
			files:   map[string]string{"flow.kdl": "project \"p\"\nservice \"api {\n}\n"},
			is:      ErrInvalidConfig,
			wantPos: "flow.kdl:2:9",
			want:    []string{"never closed"},
		},
		{
			name:    "stray closing brace",
			files:   map[string]string{"flow.kdl": "service \"api\" {\n  target \"x\"\n}\n}\n"},
			is:      ErrInvalidConfig,
			wantPos: "flow.kdl:4:1",
		},
		{
			name:    "unclosed block points at its brace",
			files:   map[string]string{"flow.kdl": "stage \"prod\" {\n  service \"api\" {\n    target \"x\"\n}\n"},
			is:      ErrInvalidConfig,
			wantPos: "flow.kdl:1:14",
		},
		{
			name:    "error found by the parser, after a tab and a multibyte character",
			files:   map[string]string{"flow.kdl": "// é\nservice \"api\" {\n\ttarget x=\n}\n"},
			is:      ErrInvalidConfig,
			wantPos: "flow.kdl:3:11",
			want:    []string{"unexpected end of line"},
		},
		{
			name:    "position survives CRLF line ends and v2 rewrites",
			files:   map[string]string{"flow.kdl": "stage \"a\" { service \"b\" }\r\nservice \"x\" { no_cache #true }\r\nservice \"y\" key=\r\n"},
			is:      ErrInvalidConfig,
			wantPos: "flow.kdl:3:17",
		},
		{
			name:    "error in an included file names that file",
			files:   map[string]string{"flow.kdl": "include \"sub/inc.kdl\"\n", "sub/inc.kdl": "\n\nservice \"a\" { target 1.2.3 }\n"},
			is:      ErrInvalidConfig,
			wantPos: "sub/inc.kdl:3:22",
			want:    []string{"invalid number"},
		},
		{
			name:  "include cycle",
			files: map[string]string{"flow.kdl": `include "a.kdl"`, "a.kdl": `include "b/c.kdl"`, "b/c.kdl": `include "../flow.kdl"`},
			is:    ErrIncludeCycle,
			want:  []string{"flow.kdl → a.kdl → b/c.kdl → flow.kdl", `Target: @/b/c.kdl: include "../flow.kdl"`},
		},
		{
			name:  "include of itself",
			files: map[string]string{"flow.kdl": `include "flow.kdl"`},
			is:    ErrIncludeCycle,
		},
		{
			name:  "missing include",
			files: map[string]string{"flow.kdl": `include "nope.kdl"`},
			is:    ErrInvalidConfig,
			want:  []string{"@/nope.kdl does not exist", "relative to @"},
		},
		{
			name:  "service without a name",
			files: map[string]string{"flow.kdl": `service { target "x" }`},
			is:    ErrInvalidConfig,
			want:  []string{"Target: @/flow.kdl: service\n", "a service needs a name"},
		},
		{
			name:  "service name that could escape the project",
			files: map[string]string{"flow.kdl": `service "../etc" {}`},
			is:    ErrInvalidConfig,
			want:  []string{`invalid service name "../etc"`},
		},
		{
			name:  "no_cache that is not a boolean",
			files: map[string]string{"flow.kdl": `service "api" { build { no_cache "yes" } }`},
			is:    ErrInvalidConfig,
			want:  []string{`Target: @/flow.kdl: service "api" > build > no_cache "yes"`, "expects #true or #false"},
		},
		{
			name:  "field without a value",
			files: map[string]string{"flow.kdl": "stage \"p\" {\n service \"api\" { dockerfile }\n}"},
			is:    ErrInvalidConfig,
			want:  []string{`stage "p" > service "api" > dockerfile`, "dockerfile needs a value"},
		},
	}
	t.Run("config file that does not exist", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "flow.kdl"), LoadOptions{Getenv: envOf(nil)})
		if !errors.Is(err, ErrConfigNotFound) {
			t.Errorf("Load() error = %v, want ErrConfigNotFound", err)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realTempDir(t)
			writeTree(t, root, tt.files)
			_, err := Load(filepath.Join(root, "flow.kdl"), LoadOptions{Getenv: envOf(nil)})
			if !errors.Is(err, tt.is) {
				t.Fatalf("Load() error = %v, want %v", err, tt.is)
			}
			var ue *usererr.Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %T is not a *usererr.Error", err)
			}
			msg := ue.Render(usererr.English)
			if ja := ue.Render(usererr.Japanese); ja == msg {
				t.Errorf("the Japanese block is the English one:\n%s", ja)
			}
			if tt.wantPos != "" {
				if want := filepath.Join(root, tt.wantPos); ue.Target != want {
					t.Errorf("target = %q, want %q", ue.Target, want)
				}
			}
			for _, s := range tt.want {
				if s = strings.ReplaceAll(s, "@", root); !strings.Contains(msg, s) {
					t.Errorf("error = %q, want it to contain %q", msg, s)
				}
			}
		})
	}
}
