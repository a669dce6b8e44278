// Package cli implements the `flow` command line: `flow build` reads a FleetFlow stage, packs and
// pushes each service's build context, and runs one ImageBuild per service in the cluster.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/rest"

	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/usererr"
	"github.com/fleetflow/flow-build/internal/version"
)

// Exit codes of `flow`.
const (
	ExitOK          = 0
	ExitFailed      = 1 // a build failed, or the input was invalid
	ExitUsage       = 2 // the command line itself was wrong
	ExitInterrupted = 130
)

// Env is everything `flow` takes from its surroundings. Main fills it from the process; tests fill
// it by hand, which is how they point the CLI at an in-process registry and API server.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Environ lists the environment as KEY=value, for FleetFlow's FLEET_*, CI_* and APP_* template
	// variables; nil means none.
	Environ func() []string
	WorkDir string
	// Live enables live progress bars; Main sets it when stdout is a sized terminal.
	Live bool
	// Transport carries registry traffic; nil means go-containerregistry's default.
	Transport http.RoundTripper
	// RESTConfig, when set, is used instead of loading a kubeconfig.
	RESTConfig *rest.Config
	// BundleIndexDir is where the local index of build contexts is kept, so that an unchanged
	// context is recognised without packing it (see bundle.PackOptions.IndexDir); empty means
	// none. Main sets it to the user's cache folder.
	BundleIndexDir string

	// planned, when set (by tests), receives what `flow build` resolved and checked, and the run
	// stops there: nothing is contacted.
	planned func(*fleetconfig.Plan, []*target)
	// logs, when set (by tests), serves the build pods' logs instead of the API server.
	logs logSource
}

// exitError carries an exit code through cobra; what went wrong was already shown (a build that
// failed is reported in the progress output).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// failure is an error met while carrying out a command whose command line was fine: exit status 1.
// Errors that are not failures are errors of the command line (exit status 2).
type failure struct{ error }

func (f failure) Unwrap() error { return f.error }

// runFailure marks what a command's Run returns as a failure.
func runFailure(err error) error {
	var exit exitError
	if err == nil || errors.As(err, &exit) {
		return err
	}
	return failure{err}
}

// problems are several independent errors found at once, so that one run shows everything to fix.
// Each is reported as a block of its own.
type problems []error

func (p problems) Error() string { return errors.Join(p...).Error() }

func (p problems) Unwrap() []error { return p }

// Main runs `flow` with the process's arguments and environment and returns its exit code.
func Main() int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return ExitFailed
	}
	env := Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Environ: os.Environ, WorkDir: wd,
		Live:           liveTerminal(os.Stdout),
		BundleIndexDir: bundle.DefaultIndexDir(),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, env, os.Args[1:])
}

// liveTerminal reports whether f can show live progress bars: a terminal with a known size (a
// pseudo-terminal without one, as some CI runners allocate, would swallow every bar), not "dumb",
// and not a CI job, whose log wants plain lines.
func liveTerminal(f *os.File) bool {
	if !term.IsTerminal(int(f.Fd())) || os.Getenv("TERM") == "dumb" || os.Getenv("CI") != "" {
		return false
	}
	w, _, err := term.GetSize(int(f.Fd()))
	return err == nil && w > 0
}

// Run executes one `flow` command line and returns its exit code.
func Run(ctx context.Context, env Env, args []string) int {
	cmd := NewRootCommand(env)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	var exit exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &exit):
		return exit.code
	case ctx.Err() != nil:
		// Interrupted before any build was watched: whatever failed, failed because of the
		// interrupt, and what the run had created in the cluster was deleted again.
		notef(env.Stderr, "\n%s\n", txt("Interrupted: no build was left in the cluster.", "中断しました: クラスターにビルドは残っていません。").In(usererr.LangFromEnv(env.Getenv)))
		return ExitInterrupted
	}
	// The one place errors are shown: each problem as a block in the user's language.
	var f failure
	isFailure := errors.As(err, &f)
	var ue *usererr.Error
	if !isFailure && !errors.As(err, &ue) {
		// cobra's and pflag's own errors (an unknown flag, a missing value) speak only English.
		err = commandLineError(err)
	}
	lang := usererr.LangFromEnv(env.Getenv)
	var many problems
	if !errors.As(err, &many) {
		many = problems{err}
	}
	for _, e := range many {
		notef(env.Stderr, "%s\n", usererr.Format(e, lang))
	}
	if !isFailure && errors.As(err, &ue) && ue.Kind == usererr.KindUsage {
		return ExitUsage
	}
	return ExitFailed
}

// NewRootCommand builds the `flow` command tree.
func NewRootCommand(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "flow",
		Short: "Build FleetFlow services into container images inside Kubernetes",
		Long: "flow builds the services of a FleetFlow stage into container images inside a Kubernetes cluster,\n" +
			"with Kaniko and no Docker daemon, and pushes them to their registries.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.AddCommand(newBuildCommand(env), newLogsCommand(env), newVersionCommand(env))
	return root
}

func newVersionCommand(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of flow",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(env.Stdout, "flow %s\n", version.Version)
			return err
		},
	}
}
