// Command flow builds FleetFlow services into container images inside Kubernetes:
// `flow build --push --tag v1.2.0 prod`.
package main

import (
	"os"

	"github.com/fleetflow/flow-build/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
