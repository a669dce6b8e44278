package userns

import (
	"flag"
	"fmt"
	"os"
)

// ProbeCommand is the manager's sub-command that runs Main: the init container of build pods that
// have no source to fetch (git sources, which Kaniko clones itself).
const ProbeCommand = "userns-probe"

// Probe reads the calling process's UID mapping and returns the termination message line that
// carries it, with a sentence for the container's log. When the mapping cannot be read, line is
// empty: the controller then records nothing rather than a guess.
func Probe() (line, description string) {
	m, err := Read()
	if err != nil {
		return "", "could not tell whether this pod runs in a user namespace: " + err.Error()
	}
	return MessageLine(m), m.Describe()
}

// Main runs the userns-probe command: it reports the pod's UID mapping in the termination message
// at terminationLog and always succeeds, so that a report it cannot make never stops a build.
func Main(args []string, terminationLog string) int {
	fs := flag.NewFlagSet(ProbeCommand, flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s takes no arguments, got %q\n", ProbeCommand, fs.Args())
		return 2
	}
	line, description := Probe()
	fmt.Println(description)
	if line != "" {
		if err := os.WriteFile(terminationLog, []byte(line+"\n"), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "writing the report to %s: %v\n", terminationLog, err)
		}
	}
	return 0
}
