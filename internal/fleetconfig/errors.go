package fleetconfig

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is. The errors returned by this package wrap one of them and carry a
// message that names the file, stage or service at fault and how to fix it.
var (
	// ErrConfigNotFound: no config file was found by Discover, or the file given does not exist.
	ErrConfigNotFound = errors.New("no FleetFlow config file")
	// ErrInvalidConfig: the config cannot be read: a KDL syntax error (*SyntaxError), a node of our
	// schema used wrongly (*ConfigError), or an include problem.
	ErrInvalidConfig = errors.New("invalid FleetFlow config")
	// ErrIncludeCycle: an include chain leads back to a file that is being loaded. It also matches
	// ErrInvalidConfig.
	ErrIncludeCycle = errors.New("include cycle")
	// ErrUnknownStage: the stage asked for is not defined in the config.
	ErrUnknownStage = errors.New("unknown stage")
	// ErrUnknownService: a service asked for is not part of the stage.
	ErrUnknownService = errors.New("unknown service")
	// ErrNoDockerfile: a service asked for explicitly has no Dockerfile, so it cannot be built.
	ErrNoDockerfile = errors.New("service has no Dockerfile")
	// ErrDockerfileNotFound: the `dockerfile` configured for a service does not exist.
	ErrDockerfileNotFound = errors.New("dockerfile not found")
	// ErrContextNotFound: the build context of a service does not exist or is not a folder.
	ErrContextNotFound = errors.New("build context not found")
	// ErrOutsideProject: a build context or Dockerfile lies outside the project root, after `..`
	// and symbolic links are resolved. Only the project's own files may be sent to the cluster.
	ErrOutsideProject = errors.New("path outside the project")
	// ErrInvalidPlatform: a service's `platform`/`platforms` is not os/arch[/variant] with os
	// linux, or names a platform twice.
	ErrInvalidPlatform = errors.New("invalid platform")
)

// SyntaxError is a KDL syntax error, located in the file as the user sees it in an editor.
type SyntaxError struct {
	// File is the path of the file that holds the error.
	File string
	// Line and Column are 1-based; Column counts Unicode characters, a tab counts as one.
	Line, Column int
	// Msg says what is wrong.
	Msg string
	// Excerpt is the offending source line followed by a line with a caret under the column,
	// for callers that want to show it; it is not part of Error().
	Excerpt string
}

// Error formats the error as `file:line:col: message`, which editors and CI annotators recognise.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Is makes a SyntaxError match ErrInvalidConfig.
func (e *SyntaxError) Is(target error) bool { return target == ErrInvalidConfig }

// ConfigError is well-formed KDL that does not fit the FleetFlow schema, such as a service
// without a name or a `no_cache` that is not a boolean. The parser keeps no positions for nodes, so
// Where names the node path instead of a line.
type ConfigError struct {
	// File is the path of the file that holds the node.
	File string
	// Where is the path of the node, such as `stage "prod" > service "api" > build > no_cache`.
	Where string
	// Msg says what is wrong and how to fix it.
	Msg string
}

// Error formats the error as `file: where: message`.
func (e *ConfigError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Where, e.Msg)
}

// Is makes a ConfigError match ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// includeCycleError reports an include chain that loops; it matches both ErrIncludeCycle and
// ErrInvalidConfig.
type includeCycleError struct{ chain string }

func (e *includeCycleError) Error() string {
	return fmt.Sprintf("include cycle: %s: remove one of these include nodes", e.chain)
}

func (e *includeCycleError) Is(target error) bool {
	return target == ErrIncludeCycle || target == ErrInvalidConfig
}
