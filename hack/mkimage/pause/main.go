// Command pause is the sandbox ("infra") container of every pod on the local test node,
// standing in for registry.k8s.io/pause, which cannot be pulled there. It holds the pod's
// namespaces open, reaps orphaned children when it is the pod's PID 1 (shared process
// namespace), and exits cleanly when the runtime stops the sandbox.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking; one SIGCHLD may stand for several.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
