package fleetconfig

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fleetflow/flow-build/internal/usererr"
)

// Sentinel errors, for errors.Is. Every error this package returns is a *usererr.Error (kind
// KindConfig) in both languages that names the file, stage or service at fault and how to fix it,
// with one of these attached as its cause.
var (
	// ErrConfigNotFound: no config file was found, or the file given does not exist.
	ErrConfigNotFound = errors.New("no FleetFlow config file")
	// ErrInvalidConfig: the config cannot be read: a KDL syntax error, a template error, a node of
	// the schema used wrongly, or an include problem.
	ErrInvalidConfig = errors.New("invalid FleetFlow config")
	// ErrIncludeCycle: an include chain leads back to a file that is being loaded.
	ErrIncludeCycle = errors.New("include cycle")
	// ErrTooManyFiles: the includes would read more files or bytes than a project can sensibly have.
	ErrTooManyFiles = errors.New("too many config files")
	// ErrTemplate: a `{{ }}` / `{% %}` template in a file cannot be rendered.
	ErrTemplate = errors.New("template error")
	// ErrNoStage: no stage was named and none can be chosen (no `default`, not exactly one).
	ErrNoStage = errors.New("no stage chosen")
	// ErrUnknownStage: the stage asked for is not defined in the config.
	ErrUnknownStage = errors.New("unknown stage")
	// ErrUnknownService: a service asked for is not part of the stage.
	ErrUnknownService = errors.New("unknown service")
	// ErrUndefinedService: the stage lists a service that no service block defines.
	ErrUndefinedService = errors.New("undefined service")
	// ErrNoDockerfile: a service with build settings has no Dockerfile.
	ErrNoDockerfile = errors.New("service has no Dockerfile")
	// ErrDockerfileNotFound: the `dockerfile` configured for a service does not exist.
	ErrDockerfileNotFound = errors.New("dockerfile not found")
	// ErrContextNotFound: the build context of a service does not exist or is not a folder.
	ErrContextNotFound = errors.New("build context not found")
	// ErrOutsideProject: a build context or Dockerfile lies outside the project root, after `..`
	// and symbolic links are resolved. Only the project's own files may be sent to the cluster.
	ErrOutsideProject = errors.New("path outside the project")
	// ErrInvalidPlatform: a service's `platform`/`platforms` (or --platform) is not os/arch[/variant]
	// with os linux, or names a platform twice.
	ErrInvalidPlatform = errors.New("invalid platform")
	// ErrInvalidBuildSetting: a build setting the cluster cannot take (a build-arg name or a
	// target outside the ImageBuild API's grammar).
	ErrInvalidBuildSetting = errors.New("invalid build setting")
)

// configErr is a configuration error with its own headline, wrapping a sentinel.
func configErr(cause error, en, ja string) *usererr.Error {
	return usererr.New(usererr.KindConfig, usererr.T(en, ja)).WithCause(cause)
}

// nodeError is well-formed KDL that does not fit FleetFlow's schema. The KDL parser keeps no
// positions for nodes, so the error names the file and the path of the node instead of a line:
// `stage "prod" > service "api" > build > no_cache`.
func nodeError(file, where string, reason usererr.Text, remedies ...usererr.Text) *usererr.Error {
	target := file
	if where != "" {
		target += ": " + where
	}
	return configErr(ErrInvalidConfig, "the FleetFlow configuration is invalid", "設定ファイルが不正です").
		WithTarget(target).WithReason(reason).WithRemedies(remedies...)
}

// quoteList joins names for a message: `a, b, c`, or a dash for none.
func quoteList(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ", ")
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// txt is usererr.T with fmt formatting applied to both languages with the same arguments.
func txt(en, ja string, args ...any) usererr.Text {
	return usererr.T(fmt.Sprintf(en, args...), fmt.Sprintf(ja, args...))
}
