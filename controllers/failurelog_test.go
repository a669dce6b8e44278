package controllers

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
)

// failedRunLog is a Kaniko log (color format) of a RUN step that printed a credential and failed.
const failedRunLog = "\x1b[36mINFO\x1b[0m[0000] Retrieving image manifest registry.test/base:1 \n" +
	"\x1b[36mINFO\x1b[0m[0000] Building stage 'registry.test/base:1' [idx: '0', base-idx: '-1'] \n" +
	"\x1b[36mINFO\x1b[0m[0001] RUN make                                     \n" +
	"\x1b[36mINFO\x1b[0m[0001] Running: [/bin/sh -c make]                   \n" +
	"cc -o app main.c\n" +
	"fetching https://ci:s3cret@deps.example.com/lib.tgz\n" +
	"main.c:3: error: expected ';'\n" +
	"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2\n"

var failedRunTail = []string{
	"RUN make",
	"cc -o app main.c",
	"fetching https://deps.example.com/lib.tgz",
	"main.c:3: error: expected ';'",
	"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2",
}

// logReader plays the API server's pods/log: a log per pod, or an error.
type logReader struct {
	logs  map[string]string
	err   error
	reads []string
}

func (l *logReader) read(_ context.Context, _, pod, container string) (string, error) {
	l.reads = append(l.reads, pod+"/"+container)
	return l.logs[pod], l.err
}

func TestFailedBuildKeepsTheEndOfItsOutput(t *testing.T) {
	logs := &logReader{logs: map[string]string{"app-g1-1": failedRunLog}}
	e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.PodLogs = logs.read })
	key := e.create("app", nil)
	e.reconcile(key)
	e.kanikoDone("app-g1-1", 1, "the termination message, not read when the log is there")
	e.reconcile(key)

	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonBuildFailed)
	want := &buildv1.FailureLog{Pod: "app-g1-1", Tail: failedRunTail}
	if !reflect.DeepEqual(ib.Status.FailureLog, want) {
		t.Errorf("status.failureLog = %+v, want %+v", ib.Status.FailureLog, want)
	}
	if !reflect.DeepEqual(logs.reads, []string{"app-g1-1/" + buildpod.KanikoContainer}) {
		t.Errorf("log reads %v, want the kaniko container's log read once", logs.reads)
	}
	// Finished is finished: a resync reads nothing more.
	e.reconcile(key)
	if len(logs.reads) != 1 {
		t.Errorf("log reads after a resync: %v", logs.reads)
	}

	// A new generation is a new build: the old output goes with the old result.
	e.newGeneration(key, func(ib *buildv1.ImageBuild) { ib.Spec.Tags = []string{"v2"} })
	e.reconcile(key)
	if ib := e.get(key); ib.Status.FailureLog != nil {
		t.Errorf("generation 2 still shows generation 1's output: %+v", ib.Status.FailureLog)
	}
}

// Without the log (the API server refuses, the node is gone), the lines come from the termination
// message, which the kubelet fills with the log's last 2 KiB.
func TestFailureLogFromTheTerminationMessage(t *testing.T) {
	logs := &logReader{err: errors.New("the node is unreachable")}
	for name, tweak := range map[string]func(*ImageBuildReconciler){
		"log unreadable": func(r *ImageBuildReconciler) { r.PodLogs = logs.read },
		"no log reader":  nil,
	} {
		t.Run(name, func(t *testing.T) {
			e := newUnitEnv(t, tweak)
			key := e.create("app", nil)
			e.reconcile(key)
			e.kanikoDone("app-g1-1", 1, failedRunLog)
			e.reconcile(key)
			ib := e.get(key)
			if fl := ib.Status.FailureLog; fl == nil || !reflect.DeepEqual(fl.Tail, failedRunTail) {
				t.Errorf("status.failureLog = %+v, want the tail of the termination message", fl)
			}
		})
	}
}

// A build that succeeded, or failed before Kaniko ran, has no output to keep and no log is read.
func TestNoFailureLogWithoutAKanikoFailure(t *testing.T) {
	logs := &logReader{logs: map[string]string{"ok-g1-1": failedRunLog, "fetch-g1-1": failedRunLog}}
	e := newUnitEnv(t, func(r *ImageBuildReconciler) { r.PodLogs = logs.read })
	ok := e.create("ok", nil)
	e.reconcile(ok)
	e.kanikoDone("ok-g1-1", 0, testDigest)
	e.reconcile(ok)
	wantState(t, e.get(ok), buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)

	fetch := e.create("fetch", nil)
	e.reconcile(fetch)
	pod, _ := e.pod("fetch-g1-1")
	e.kanikoDone("fetch-g1-1", 1, "")
	pod, _ = e.pod(pod.Name)
	pod.Status.InitContainerStatuses[0].State.Terminated.ExitCode = 1
	pod.Status.InitContainerStatuses[0].State.Terminated.Message = "pulling the source bundle: MANIFEST_UNKNOWN"
	pod.Status.ContainerStatuses = nil
	if err := e.c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	e.reconcile(fetch)
	wantState(t, e.get(fetch), buildv1.PhaseFailed, buildv1.ReasonSourceFetchFailed)

	for _, key := range []types.NamespacedName{ok, fetch} {
		if fl := e.get(key).Status.FailureLog; fl != nil {
			t.Errorf("%s: status.failureLog = %+v, want none", key.Name, fl)
		}
	}
	if len(logs.reads) != 0 {
		t.Errorf("logs read: %v", logs.reads)
	}
}

// The first platform that fails ends a multi-platform build; its pod's output is the build's.
func TestFailedPlatformKeepsItsOutput(t *testing.T) {
	e := newPlatformEnv(t)
	logs := &logReader{logs: map[string]string{"web-g1-linux-arm64-1": failedRunLog}}
	e.r.PodLogs = logs.read
	key := e.create("web")
	e.reconcile(key)
	e.kanikoFailed("web-g1-linux-arm64-1", "exit status 2")
	e.reconcile(key)
	ib := e.get(key)
	wantState(t, ib, buildv1.PhaseFailed, buildv1.ReasonBuildFailed)
	want := &buildv1.FailureLog{Pod: "web-g1-linux-arm64-1", Platform: "linux/arm64", Tail: failedRunTail}
	if !reflect.DeepEqual(ib.Status.FailureLog, want) {
		t.Errorf("status.failureLog = %+v, want %+v", ib.Status.FailureLog, want)
	}
	if strings.Contains(strings.Join(ib.Status.FailureLog.Tail, "\n"), "s3cret") {
		t.Error("a credential reached the status")
	}
}
