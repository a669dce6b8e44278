// Command manager runs the flow-build controllers. The same binary, with `fetch-source` as its first
// argument, is the init container that unpacks a source bundle into a build pod's workspace, so one
// image serves both and the two can never drift apart in version.
package main

import (
	"fmt"
	"os"

	"github.com/fleetflow/flow-build/internal/fetchsource"
	"github.com/fleetflow/flow-build/internal/manager"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fetch-source" {
		os.Exit(fetchsource.Main(os.Args[2:]))
	}
	if err := manager.Run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
