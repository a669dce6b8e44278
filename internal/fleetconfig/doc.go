// Package fleetconfig reads a FleetFlow project the way FleetFlow's own loader does (its
// fleetflow-core crate is the reference), and resolves one stage into a build plan of Dockerfiles,
// contexts, targets, build args and image names, checking every path before anything is sent to a
// cluster. Where FleetFlow's behaviour is a bug, the code says so next to what it does instead.
//
// # Finding the project
//
// Discover takes `-f FILE`, else FLEETFLOW_CONFIG_PATH, else FLEET_PROJECT_ROOT (which must hold
// .fleetflow/fleet.kdl), else walks up from the working directory looking in each folder for
// `.fleetflow/fleet.kdl`, `fleet.kdl`, `flow.kdl`. The project root R is the folder holding the file
// (the parent of `.fleetflow/`). Paths in the config are relative to R; include paths are relative
// to the including file.
//
// # Files, in FleetFlow's merge order
//
//	R/cloud.kdl (else R/.fleetflow/cloud.kdl)
//	the root file
//	R/services/**/*.kdl, R/stages/**/*.kdl   sorted by path component
//	R/flow.<stage>.kdl (else in .fleetflow/) only with a stage
//	R/flow.local.kdl (else in .fleetflow/)   always: a developer's personal override
//
// R/variables/**/*.kdl give template variables only; so do R/.env, R/.env.external and
// R/.env.<stage> (each, else in .fleetflow/). Each file is rendered as a template first (package
// tera), then parsed (KDL v2, or v1) and applied node by node; `include "path-or-glob"` brings in
// other files, each file once however often it is included, within a budget of files and bytes.
//
// # Templates
//
// `{{ name }}`, `{% if %}` … as Tera renders them, with these variables, later ones winning:
// PROJECT_ROOT; .env, .env.external, .env.<stage>; the FLEET_*, CI_* and APP_* environment
// variables (FLEET_STAGE is the stage); the `variables` blocks, top level then the stage's, of the
// root file and then of each variables/**/*.kdl file. An undefined variable is an error naming the
// file, the line and the column.
//
// # Schema
//
// Only the parts of FleetFlow's schema that concern building are read; every other node
// (provider, server, tenant, and within a service ports, env, volumes, healthcheck, depends_on …)
// is accepted and ignored. A name close to a known field (`dockerfil`) gets a warning.
//
//	project "myapp"                  // default: the project root's folder name
//	registry "ghcr.io/org"           // top-level registry
//	variables { NODE_VERSION "22" }  // template variables, and {VAR} in build args
//	include "services/*.kdl"         // relative to this file; globs allowed, cycles rejected
//
//	service "api" image="ghcr.io/org/api" registry="ghcr.io/other" {
//	    image "ghcr.io/org/api:main"  // child form of the properties
//	    registry "ghcr.io/org"
//	    dockerfile "./services/api/Dockerfile"  // flat build fields …
//	    context "."
//	    target "production"
//	    build_args { NODE_VERSION "{NODE_VERSION}" }
//	    build {                      // … or nested, with args instead of build_args
//	        dockerfile "Dockerfile"
//	        context "services/api"
//	        target "production"
//	        args { COMMIT "${GIT_SHA:-unknown}" }
//	        no_cache #true
//	    }
//	}
//
//	stage "prod" {
//	    service "api"                // the services the stage builds, in this order
//	    service "worker" { target "prod" }  // a block overrides fields for this stage
//	    variables { NODE_VERSION "20" }     // the stage's template variables
//	    registry "ghcr.io/org-prod"
//	}
//
// Repeated service blocks merge, the later one winning field by field; build args merge by name
// (FleetFlow replaces the whole build configuration, losing the Dockerfile of a block that only
// changes the target). A later stage block replaces the stage, as in FleetFlow. A stage that
// lists no service builds nothing.
//
// # Values and names
//
// `${VAR}` and `${VAR:-default}` in any string expand from the environment when the file is
// loaded. `{VAR}` in build-arg values expands from the environment (as in FleetFlow), then the
// stage's and the top-level variables and the .env files; an unknown `{VAR}` stays as written,
// with a warning.
//
// A service is built when it has build settings or a Dockerfile where FleetFlow's conventions
// look: `services/<name>/Dockerfile`, `<name>/Dockerfile`, `Dockerfile.<name>`. One with build
// settings and no Dockerfile is an error; one with neither is a pulled image. When a registry
// applies (--registry, then the service's, the stage's, the top-level one), the image is
// `<registry>/<project>-<service>` with the tag of the service's image (FleetFlow names every
// service `<registry>/<project>-<stage>`, so that they overwrite each other); without one, it is the
// service's image, else the service name.
package fleetconfig
