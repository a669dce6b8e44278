// Command manager runs the flow-build controllers. The same binary, with `fetch-source` as its first
// argument, is the init container that unpacks a source bundle into a build pod's workspace; with
// `userns-probe`, the init container of git build pods, which reports whether the pod runs in a
// user namespace and which commit the branch or tag to build names; and with `push-image`, the container that pushes a platform's image
// by digest. So one image serves all four and they can never drift apart in version.
package main

import (
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"

	"github.com/fleetflow/flow-build/internal/fetchsource"
	"github.com/fleetflow/flow-build/internal/gitresolve"
	"github.com/fleetflow/flow-build/internal/manager"
	"github.com/fleetflow/flow-build/internal/pushimage"
	"github.com/fleetflow/flow-build/internal/userns"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "fetch-source":
			os.Exit(fetchsource.Main(os.Args[2:]))
		case "push-image":
			os.Exit(pushimage.Main(os.Args[2:]))
		case userns.ProbeCommand:
			os.Exit(gitresolve.ProbeMain(os.Args[2:], corev1.TerminationMessagePathDefault))
		}
	}
	if err := manager.Run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
