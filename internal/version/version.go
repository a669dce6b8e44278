// Package version carries the release version, set at link time with
// -ldflags "-X github.com/fleetflow/flow-build/internal/version.Version=v1.2.3".
package version

// Version is the release this binary was built from; "dev" for a plain `go build`.
var Version = "dev"
