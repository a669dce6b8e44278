package fleetconfig

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fleetflowProject is a project written the way FleetFlow's guide writes them: KDL v2, services
// found by convention, per-stage registries and variables, pulled images mixed with built ones,
// and run-time settings this package must skip over.
var fleetflowProject = map[string]string{
	".fleetflow/fleet.kdl": `
project "vantage"

// default registry for our own images
registry "ghcr.io/vantage-hub"

variables {
    GO_VERSION "1.21"
    APP_ENV "development"
}

include "stages.kdl"

service "auth-service" {
    build_args {
        GO_VERSION "{GO_VERSION}"
        APP_ENV "{APP_ENV}"
    }
    ports { port host=5001 container=5000 }
    env { DATABASE_URL "postgres://db:5432/auth" }
}

service "gateway" {
    dockerfile "./gateway/Dockerfile"
    build {
        target "production"
        no_cache #true
    }
    ports {
        port host=8080 container=80
    }
}

service "db" {
    image "postgres"
    version "16"
    env { POSTGRES_PASSWORD "postgres" }
}

service "redis" image="redis:7-alpine"
`,
	".fleetflow/stages.kdl": `
stage "local" { service "auth-service"; service "db" }

stage "live" {
    registry "ghcr.io/live-org"
    variables { APP_ENV "production" }
    service "auth-service"
    service "gateway" { target "live" }
    service "db"
    service "redis"
}
`,
	"services/auth-service/Dockerfile": "FROM golang:1.21",
	"gateway/Dockerfile":               "FROM nginx",
	"services/auth-service/cmd/":       "",
}

func TestFleetFlowProjectEndToEnd(t *testing.T) {
	root := realTempDir(t)
	writeTree(t, root, fleetflowProject)

	file, err := Discover("", filepath.Join(root, "services", "auth-service", "cmd"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(file, LoadOptions{Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Root != root || c.Project != "vantage" || !slices.Equal(c.Stages(), []string{"live", "local"}) {
		t.Fatalf("root %s project %s stages %v", c.Root, c.Project, c.Stages())
	}

	p, err := c.Resolve("live", ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range p.Builds {
		got = append(got, strings.Join([]string{b.Service, b.Image, b.DockerfileRel, b.ContextRel, b.Target,
			argsOf(b), map[bool]string{true: "no-cache", false: "cache"}[b.NoCache]}, " | "))
	}
	want := []string{
		"auth-service | ghcr.io/live-org/vantage-auth-service | ./services/auth-service/Dockerfile | . |  | APP_ENV=production GO_VERSION=1.21 | cache",
		"gateway | ghcr.io/live-org/vantage-gateway | ./gateway/Dockerfile | . | live |  | no-cache",
	}
	if !slices.Equal(got, want) {
		t.Errorf("builds =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(p.Skipped) != 2 || p.Skipped[0] != (Skipped{"db", ReasonNoDockerfile}) || p.Skipped[1].Service != "redis" {
		t.Errorf("skipped = %+v", p.Skipped)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings = %q", p.Warnings)
	}

	local, err := c.Resolve("local", ResolveOptions{Registry: "localhost:5000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(local.Builds) != 1 || local.Builds[0].Image != "localhost:5000/vantage-auth-service" ||
		argsOf(local.Builds[0]) != "APP_ENV=development GO_VERSION=1.21" {
		t.Errorf("local builds = %+v", local.Builds)
	}
}
