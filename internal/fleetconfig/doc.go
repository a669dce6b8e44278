// Package fleetconfig reads FleetFlow's KDL config for `flow build`: it finds the file, loads it
// with its includes, and resolves one stage into a build plan of Dockerfiles, contexts, targets,
// build args and image names, checking every path before anything is sent to a cluster.
//
// # Finding the file
//
// Discover takes `-f FILE`, else FLEETFLOW_CONFIG_PATH, else walks up from the working directory
// looking in each folder for `.fleetflow/fleet.kdl`, `fleet.kdl`, `flow.kdl`. The project root is
// the folder holding the file (the parent of `.fleetflow/`). Paths in the config are relative to
// the project root; include paths are relative to the including file.
//
// # Schema
//
// Only the parts of FleetFlow's schema that concern building are read; every other node
// (provider, server, tenant, and within a service ports, env, volumes, healthcheck, depends_on …)
// is accepted and ignored.
//
//	project "myapp"                  // default: the project root's folder name
//	registry "ghcr.io/org"           // top-level registry
//	variables { NODE_VERSION "22" }  // for {VAR} in build args
//	include "services/*.kdl"         // relative to this file; globs allowed, cycles rejected
//
//	service "api" image="ghcr.io/org/api" registry="ghcr.io/other" {
//	    image "ghcr.io/org/api:main"  // child form of the properties
//	    registry "ghcr.io/org"
//	    dockerfile "./services/api/Dockerfile"  // flat build fields …
//	    context "."
//	    target "production"
//	    build_args { NODE_VERSION "{NODE_VERSION}" }
//	    image_tag "api:dev"          // FleetFlow's local tag; ignored for pushing
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
//	    service "api"                // listing enables a service in the stage
//	    service "worker" { target "prod" }  // a block overrides fields for this stage
//	    variables { NODE_VERSION "20" }     // override the top-level variables
//	    registry "ghcr.io/org-prod"
//	}
//
// Repeated service (and stage) blocks merge, the later one winning field by field; build args
// merge by name. A stage that lists no service stands for all services.
//
// # Values
//
// `${VAR}` and `${VAR:-default}` in any string expand from the environment when the file is
// loaded; an unset `${VAR}` without default becomes "". `{VAR}` in build-arg values expands from
// the variables when a stage is resolved (stage over top-level); an unknown `{VAR}` stays as
// written. FleetFlow's Tera templates (`{{ VAR }}`, `{% if %}`) are not supported.
//
// Without `dockerfile`, the Dockerfile is looked for at `services/<name>/Dockerfile`,
// `<name>/Dockerfile` and `Dockerfile.<name>`; a service with none is not built (its image is
// pulled). Without `image`, a service that has a registry (--registry, then the service's, the
// stage's, the top-level one) is pushed as `<registry>/<project>-<service>`.
//
// # KDL versions
//
// FleetFlow writes KDL v2 (`no_cache #true`, `stage "prod" { service "api" }`); files are read
// with package kdlv2, which rewrites v2 into the v1 that github.com/sblinch/kdl-go parses and
// locates syntax errors at the user's own line and column. v1 files are read as they are.
package fleetconfig
