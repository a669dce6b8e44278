package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/dockerfile"
	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/kanikolog"
	"github.com/fleetflow/flow-build/internal/progress"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// output is what the user sees of a run: the Building/Pushing/✓ blocks on the progress
// printer, and notes (uploads, hints) on stderr.
type output struct {
	env     Env
	o       *buildOptions
	push    bool
	printer *progress.Printer
	skipped []fleetconfig.Skipped
	stage   string

	// streamOutput prints every line of the builds' own output (--progress plain).
	streamOutput bool

	notes         sync.Mutex // uploads finish on parallel goroutines; their lines must not interleave
	deferred      []string   // notes held back while live bars are drawn
	forbiddenOnce sync.Once
}

// notef writes a note or diagnostic to w, which is stderr. A failed write is deliberately ignored:
// stderr is the last channel there is to report on, and the exit status carries the outcome anyway.
func notef(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

func newOutput(o *buildOptions, plan *fleetconfig.Plan) *output {
	// With -o the manifests own stdout; everything else goes to stderr.
	w := o.env.Stdout
	if o.output != "" {
		w = o.env.Stderr
	}
	return &output{
		env:  o.env,
		o:    o,
		push: o.push,
		printer: progress.New(progress.Options{
			Out: w, Live: o.live() && o.output == "", Color: o.live(),
			LookupEnv: func(k string) (string, bool) { v := o.env.Getenv(k); return v, v != "" },
		}),
		skipped:      plan.Skipped,
		stage:        plan.Stage,
		streamOutput: o.progress == progressPlain && o.output == "",
	}
}

// nothingToBuild says why a run builds nothing; it is not an error (exit status 0), as in FleetFlow.
func (out *output) nothingToBuild(plan *fleetconfig.Plan) {
	if plan.ListsNoServices {
		// FleetFlow says "ビルド対象のサービスがありません（build 設定が必要です）" here, which
		// sends the user looking for build settings in a stage that lists nothing.
		notef(out.env.Stderr, "%s\n", txt("nothing to build: stage %s lists no services (add service \"name\" lines to it)",
			"ビルド対象のサービスがありません: ステージ %s にはサービスがありません（service \"name\" の行を追加してください）", plan.Stage).In(out.o.lang))
		return
	}
	for _, s := range plan.Skipped {
		out.printer.Add(progress.Service{Name: s.Service}).Skipped(s.Reason)
	}
	out.printer.Wait()
	msg := txt("nothing to build: no service of stage %s has build settings or a Dockerfile",
		"ビルド対象のサービスがありません: ステージ %s のサービスにはビルド設定も Dockerfile もありません", plan.Stage)
	if len(out.o.onlyService) > 0 {
		msg = txt("nothing to build: the services asked for (%s) have neither build settings nor a Dockerfile",
			"ビルド対象のサービスがありません: 指定したサービス（%s）にはビルド設定も Dockerfile もありません", strings.Join(out.o.onlyService, ", "))
	}
	notef(out.env.Stderr, "%s\n", msg.In(out.o.lang))
}

func (out *output) uploaded(t *target, stats bundle.PackStats, sent int64, took time.Duration) {
	how := txt("%s sent", "%s を送信", bundle.HumanBytes(sent))
	if sent == 0 {
		how = txt("already in the registry, nothing sent", "レジストリにあり、送信なし")
	}
	out.notes.Lock()
	defer out.notes.Unlock()
	out.o.notef(txt("Uploaded the context of %s: %d files, %s (%s) in %s", "%s のコンテキストをアップロードしました: %d ファイル、%s（%s）、%s",
		t.build.Service, stats.Files, bundle.HumanBytes(stats.Bytes), how.In(out.o.lang), took.Round(10*time.Millisecond)))
}

// created lists the new ImageBuilds on stdout, where scripts read them, so a failed write there is
// an error; the hint on stderr is only a note.
func (out *output) created(builds []*buildv1.ImageBuild, ns, runID string) error {
	for _, ib := range builds {
		if _, err := fmt.Fprintf(out.env.Stdout, "imagebuild.build.fleetflow.dev/%s created\n", ib.Name); err != nil {
			return err
		}
	}
	out.o.notef(txt("Follow them with: flow logs -f %s\n  or: kubectl get imagebuilds -n %s -l %s=%s -w", "進行状況の確認: flow logs -f %s\n  または: kubectl get imagebuilds -n %s -l %s=%s -w", out.logsArgs(ns), ns, buildv1.LabelRun, runID))
	return nil
}

// logsArgs are the arguments of the `flow logs` that shows this run's builds.
func (out *output) logsArgs(namespace string) string {
	var args []string
	for _, s := range out.o.onlyService {
		args = append(args, "-n", s)
	}
	if out.o.file != "" {
		args = append(args, "--file", out.o.file)
	}
	if out.o.kube.kubeconfig != "" {
		args = append(args, "--kubeconfig", out.o.kube.kubeconfig)
	}
	if out.o.kube.context != "" {
		args = append(args, "--context", out.o.kube.context)
	}
	if out.o.kube.namespace != "" {
		args = append(args, "--namespace", namespace)
	}
	return strings.Join(append(args, out.stage), " ")
}

// buildState is what the follower knows of one build.
type buildState struct {
	target     *target
	task       *progress.Task
	totalSteps int
	// streams are the pods whose log is followed (a lost pod's retry is a new pod), each closed
	// when its log has been read to its end.
	streams map[string]chan struct{}
	// stopStreams ends this build's log streams once it has finished and they had their time.
	stopStreams context.CancelFunc
	streamCtx   context.Context
	// emulated are the platforms already said to be emulated.
	emulated map[string]bool
	done     bool
	failed   bool
}

// follow watches the run's ImageBuilds until all have finished, feeding the progress printer, and
// turns the results into the exit status: 0 only when every build succeeded.
func (out *output) follow(ctx context.Context, cl *cluster, builds []*buildv1.ImageBuild, targets []*target, runID string) error {
	logCtx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	states := map[string]*buildState{}
	for i, ib := range builds {
		t := targets[i]
		s := &buildState{target: t, totalSteps: countSteps(t), streams: map[string]chan struct{}{}, emulated: map[string]bool{}}
		s.streamCtx, s.stopStreams = context.WithCancel(logCtx)
		s.task = out.printer.Add(progress.Service{
			Name: t.build.Service, Dockerfile: t.build.DockerfileRel, Context: t.build.ContextRel,
			Target: t.build.Target, Destinations: t.push.Images(), Platforms: t.build.Platforms,
		})
		states[ib.Name] = s
	}
	for _, s := range out.skipped {
		out.printer.Add(progress.Service{Name: s.Service}).Skipped(s.Reason)
	}

	remaining := len(states)
	update := func(ib *buildv1.ImageBuild) {
		s := states[ib.Name]
		if s == nil || s.done || ib.Status.ObservedGeneration != ib.Generation {
			return
		}
		ready := meta.FindStatusCondition(ib.Status.Conditions, buildv1.ConditionReady)
		msg := ""
		if ready != nil {
			msg = ready.Message
		}
		out.platforms(cl, ib, s)
		switch ib.Status.Phase {
		case buildv1.PhasePending:
			s.task.Pending(msg)
		case buildv1.PhaseBuilding:
			if pod := ib.Status.PodName; pod != "" {
				task := s.task
				out.stream(cl, s, pod, task.Building, task.Pushing, task.Log, len(s.target.push.Tags))
			}
		case buildv1.PhaseSucceeded:
			s.done = true
			remaining--
			out.endStreams(s)
			switch o := ib.Status.Output; {
			case !out.push:
				// Built and discarded: no Pushing block, and no digest that names nothing in a registry.
				s.task.Succeeded([]string{s.target.push.Image() + " built, not pushed (add --push to push it)"}, "")
			case o == nil:
				s.task.Succeeded(nil, "")
			case ready != nil && ready.Reason == buildv1.ReasonUpToDate:
				// Nothing was built or pushed: the tags now name the image built earlier from the
				// same inputs.
				s.task.UpToDate(outputImages(ib), o.Digest, txt("(up to date)", "(最新のため再ビルド不要)").In(out.o.lang))
			default:
				s.task.Pushing(1, 1)
				s.task.Succeeded(outputImages(ib), o.Digest)
			}
		case buildv1.PhaseFailed:
			s.done, s.failed = true, true
			remaining--
			out.endStreams(s)
			reason := ""
			if ready != nil {
				reason = ready.Reason
			}
			failed, forbidden := cl.failureOutput(ctx, ib, out.o.logTail)
			if forbidden {
				out.logsForbidden(cl.namespace)
			}
			for _, f := range failed {
				if f.platform == "" {
					s.task.LastLines(f.lines)
				} else {
					s.task.Platform(f.platform).LastLines(f.lines)
				}
			}
			s.task.Failed(fmt.Sprintf("%s: %s\n%s", reason, msg, txt("see: kubectl describe imagebuild -n %s %s", "詳細: kubectl describe imagebuild -n %s %s", ib.Namespace, ib.Name).In(out.o.lang)))
		}
	}

	err := watchBuilds(ctx, cl, client.MatchingLabels{buildv1.LabelRun: runID}, func(ib *buildv1.ImageBuild, deleted bool) bool {
		if deleted {
			if s := states[ib.Name]; s != nil && !s.done {
				s.done, s.failed = true, true
				remaining--
				s.stopStreams()
				s.task.Failed(txt("the ImageBuild was deleted before it finished", "ImageBuild が完了前に削除されました").In(out.o.lang))
			}
		} else {
			update(ib)
		}
		return remaining == 0
	})
	stopLogs()
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		for _, s := range states {
			if !s.done {
				s.task.Failed(txt("still running in the cluster (flow stopped watching)", "クラスターで実行中です（flow は監視を停止しました）").In(out.o.lang))
			}
		}
		out.printer.Wait()
		out.deferredNotes()
		notef(out.env.Stderr, "\n%s\n", txt("Interrupted: the builds go on in the cluster. Follow them with:\n  flow logs -f %s\n  kubectl get imagebuilds -n %s -l %s=%s -w",
			"中断しました: ビルドはクラスターで続行されます。進行状況の確認:\n  flow logs -f %s\n  kubectl get imagebuilds -n %s -l %s=%s -w", out.logsArgs(cl.namespace), cl.namespace, buildv1.LabelRun, runID).In(out.o.lang))
		return exitError{ExitInterrupted}
	}
	out.printer.Wait()
	out.deferredNotes()
	if err != nil {
		return fmt.Errorf("watching the builds: %w", err)
	}
	for _, s := range states {
		if s.failed {
			return exitError{ExitFailed}
		}
	}
	return nil
}

// streamGrace is how long a finished build's log streams may take to deliver what the ended
// container printed last, before the build's result is shown.
const streamGrace = 3 * time.Second

// endStreams lets the log streams of a finished build deliver their last lines, then stops them
// (a container that never started has nothing to deliver).
func (out *output) endStreams(s *buildState) {
	deadline := time.After(streamGrace)
	for _, done := range s.streams {
		select {
		case <-done:
		case <-deadline:
		}
	}
	s.stopStreams()
}

// platforms shows the state of each platform of a multi-platform build, and follows the build
// log of each platform pod.
func (out *output) platforms(cl *cluster, ib *buildv1.ImageBuild, s *buildState) {
	for _, ps := range ib.Status.Platforms {
		pt := s.task.Platform(ps.Platform)
		if ps.Emulated && !s.emulated[ps.Platform] {
			s.emulated[ps.Platform] = true
			out.notes.Lock()
			notef(out.env.Stderr, "%s", usererr.Warning(txt(
				"%[1]s of %[2]s is built under emulation (the cluster has no Ready %[1]s node): its RUN steps take several times longer",
				"%[2]s の %[1]s はエミュレーションでビルドされます（クラスターに Ready な %[1]s のノードがありません）: RUN ステップには数倍の時間がかかります",
				ps.Platform, s.target.build.Service), out.o.lang))
			out.notes.Unlock()
		}
		switch ps.Phase {
		case buildv1.PhasePending:
			pt.Pending(ps.Message)
		case buildv1.PhaseBuilding:
			if ps.PodName != "" {
				out.stream(cl, s, ps.PodName, pt.Building, nil, pt.Log, 0)
			}
		case buildv1.PhaseSucceeded:
			pt.Built()
		case buildv1.PhaseFailed:
			pt.Failed(ps.Reason + ": " + ps.Message)
		}
	}
}

// outputImages names the pushed image once per tag, primary first, as status.output reports it.
func outputImages(ib *buildv1.ImageBuild) []string {
	o := ib.Status.Output
	images := []string{o.Image}
	for _, tag := range o.Tags {
		if img := ib.Spec.Image + ":" + tag; img != o.Image {
			images = append(images, img)
		}
	}
	return images
}

// watchBuilds lists and then watches the ImageBuilds the labels select, calling fn for each state
// seen until fn returns true. A dropped watch is resumed from a fresh list, so nothing is missed.
func watchBuilds(ctx context.Context, cl *cluster, sel client.MatchingLabels, fn func(ib *buildv1.ImageBuild, deleted bool) bool) error {
	for {
		list := &buildv1.ImageBuildList{}
		if err := cl.client.List(ctx, list, client.InNamespace(cl.namespace), sel); err != nil {
			return err
		}
		sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
		for i := range list.Items {
			if fn(&list.Items[i], false) {
				return nil
			}
		}
		w, err := cl.client.Watch(ctx, &buildv1.ImageBuildList{}, client.InNamespace(cl.namespace), sel,
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true}})
		if err != nil {
			return err
		}
		finished, err := drain(ctx, w, fn)
		w.Stop()
		if finished || err != nil {
			return err
		}
	}
}

func drain(ctx context.Context, w watch.Interface, fn func(*buildv1.ImageBuild, bool) bool) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			ib, isBuild := ev.Object.(*buildv1.ImageBuild)
			switch {
			case ev.Type == watch.Error:
				return false, nil // relist
			case !isBuild:
			case fn(ib, ev.Type == watch.Deleted):
				return true, nil
			}
		}
	}
}

// stream follows the Kaniko log of a build pod, once per pod, and turns it into progress:
// building gets the steps, pushing (when Kaniko pushes, to destinations tags) the pushes, and
// log the lines of output, which plain progress prints (--progress plain). Logs are a bonus: a
// user who may not read them is told once, and the build is shown by its phases alone.
func (out *output) stream(cl *cluster, s *buildState, pod string,
	building func(done, total int, step string), pushing func(done, total int), log func(string), destinations int) {
	if _, ok := s.streams[pod]; ok {
		return
	}
	done := make(chan struct{})
	s.streams[pod] = done
	ctx, total := s.streamCtx, s.totalSteps
	go func() {
		defer close(done)
		building(0, total, "")
		steps, pushed := 0, 0
		err := cl.readLog(ctx, pod, true, 0, nil, kanikolog.NewOutput(0), func(l kanikolog.Line) {
			if l.HasEvent {
				switch l.Event.Kind {
				case kanikolog.Step:
					steps++
					building(steps-1, total, l.Event.Text)
				case kanikolog.Pushing:
					if pushing != nil {
						pushing(pushed, destinations)
					}
				case kanikolog.Pushed:
					pushed++
					if pushing != nil {
						pushing(pushed, destinations)
					}
				}
			}
			if out.streamOutput && l.Shown {
				log(l.Text)
			}
		})
		if errors.Is(err, errLogsForbidden) {
			out.logsForbidden(cl.namespace)
		}
	}()
}

// logsForbidden says, once per run, that the user may not read build logs, and where the output
// is instead. With live bars it waits for the end of the run, since a note would break them.
func (out *output) logsForbidden(namespace string) {
	out.forbiddenOnce.Do(func() {
		note := logsForbiddenNote(namespace).In(out.o.lang)
		if out.printer.Live() {
			out.notes.Lock()
			out.deferred = append(out.deferred, note)
			out.notes.Unlock()
			return
		}
		notef(out.env.Stderr, "%s\n", note)
	})
}

// deferredNotes prints the notes held back while live bars were drawn.
func (out *output) deferredNotes() {
	out.notes.Lock()
	defer out.notes.Unlock()
	for _, n := range out.deferred {
		notef(out.env.Stderr, "%s\n", n)
	}
	out.deferred = nil
}

// logsForbiddenNote explains a Forbidden answer to a build log.
func logsForbiddenNote(namespace string) usererr.Text {
	return txt("note: you may not read the logs of build pods in namespace %s (get on pods/log is forbidden), so flow shows no build output; "+
		"the last lines of a failed build come from its ImageBuild's status (kubectl describe imagebuild). "+
		"To see the whole output, ask for a Role granting get on pods/log there (the ClusterRoles flow-build-imagebuild-editor and flow-build-imagebuild-viewer have it)",
		"注意: namespace %s のビルド pod のログを読む権限がありません（pods/log の get が禁止されています）。ビルドの出力は表示できません。"+
			"失敗したビルドの最後の出力は ImageBuild のステータスから表示します（kubectl describe imagebuild）。"+
			"すべての出力を見るには、pods/log の get を許可する Role を依頼してください（ClusterRole flow-build-imagebuild-editor と flow-build-imagebuild-viewer に含まれています）", namespace)
}

// countSteps reads the local Dockerfile to know how many steps Kaniko will log, for the percentage.
// Unknown (0) when it cannot tell; the bar then shows activity without a percentage.
func countSteps(t *target) int {
	data, err := os.ReadFile(t.build.Dockerfile)
	if err != nil {
		return 0
	}
	n, err := dockerfile.CountStepsSkipUnused(data, t.build.Target)
	if err != nil {
		return 0
	}
	return n
}
