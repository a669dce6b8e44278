package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

	notes sync.Mutex // uploads finish on parallel goroutines; their lines must not interleave
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
			Out: w, Live: o.env.Live && o.output == "", Color: o.env.Live,
			LookupEnv: func(k string) (string, bool) { v := o.env.Getenv(k); return v, v != "" },
		}),
		skipped: plan.Skipped,
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
	how := txt("%s sent", "%s を送信", humanBytes(sent))
	if sent == 0 {
		how = txt("already in the registry, nothing sent", "レジストリにあり、送信なし")
	}
	out.notes.Lock()
	defer out.notes.Unlock()
	out.o.notef(txt("Uploaded the context of %s: %d files, %s (%s) in %s", "%s のコンテキストをアップロードしました: %d ファイル、%s（%s）、%s",
		t.build.Service, stats.Files, humanBytes(stats.Bytes), how.In(out.o.lang), took.Round(10*time.Millisecond)))
}

// created lists the new ImageBuilds on stdout, where scripts read them, so a failed write there is
// an error; the hint on stderr is only a note.
func (out *output) created(builds []*buildv1.ImageBuild, ns, runID string) error {
	for _, ib := range builds {
		if _, err := fmt.Fprintf(out.env.Stdout, "imagebuild.build.fleetflow.dev/%s created\n", ib.Name); err != nil {
			return err
		}
	}
	out.o.notef(txt("Follow them with: kubectl get imagebuilds -n %s -l %s=%s -w", "進行状況の確認: kubectl get imagebuilds -n %s -l %s=%s -w", ns, buildv1.LabelRun, runID))
	return nil
}

// buildState is what the follower knows of one build.
type buildState struct {
	target     *target
	task       *progress.Task
	totalSteps int
	logs       sync.Once
	// streamed are the platform pods whose log is followed (a lost pod's retry is a new pod).
	streamed map[string]bool
	// emulated are the platforms already said to be emulated.
	emulated map[string]bool
	done     bool
	failed   bool
}

// follow watches the run's ImageBuilds until all have finished, feeding the progress printer, and
// turns the results into the exit status: 0 only when every build succeeded.
func (out *output) follow(ctx context.Context, cl *cluster, builds []*buildv1.ImageBuild, targets []*target, runID string) error {
	states := map[string]*buildState{}
	for i, ib := range builds {
		t := targets[i]
		s := &buildState{target: t, totalSteps: countSteps(t), streamed: map[string]bool{}, emulated: map[string]bool{}}
		s.task = out.printer.Add(progress.Service{
			Name: t.build.Service, Dockerfile: t.build.DockerfileRel, Context: t.build.ContextRel,
			Target: t.build.Target, Destinations: t.push.Images(), Platforms: t.build.Platforms,
		})
		states[ib.Name] = s
	}
	for _, s := range out.skipped {
		out.printer.Add(progress.Service{Name: s.Service}).Skipped(s.Reason)
	}

	logCtx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
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
		out.platforms(logCtx, cl, ib, s)
		switch ib.Status.Phase {
		case buildv1.PhasePending:
			s.task.Pending(msg)
		case buildv1.PhaseBuilding:
			if ib.Status.PodName != "" {
				pod, task := ib.Status.PodName, s.task
				s.logs.Do(func() {
					go out.streamLogs(logCtx, cl, pod, s.totalSteps, task.Building, task.Pushing, len(s.target.push.Tags))
				})
			}
		case buildv1.PhaseSucceeded:
			s.done = true
			remaining--
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
			reason := ""
			if ready != nil {
				reason = ready.Reason
			}
			s.task.Failed(fmt.Sprintf("%s: %s\n  see: kubectl describe imagebuild -n %s %s", reason, msg, ib.Namespace, ib.Name))
		}
	}

	err := watchBuilds(ctx, cl, runID, func(ib *buildv1.ImageBuild, deleted bool) bool {
		if deleted {
			if s := states[ib.Name]; s != nil && !s.done {
				s.done, s.failed = true, true
				remaining--
				s.task.Failed("the ImageBuild was deleted before it finished")
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
				s.task.Failed("still running in the cluster (flow stopped watching)")
			}
		}
		out.printer.Wait()
		notef(out.env.Stderr, "\n%s\n", txt("Interrupted: the builds go on in the cluster. Follow them with:\n  kubectl get imagebuilds -n %s -l %s=%s -w",
			"中断しました: ビルドはクラスターで続行されます。進行状況の確認:\n  kubectl get imagebuilds -n %s -l %s=%s -w", cl.namespace, buildv1.LabelRun, runID).In(out.o.lang))
		return exitError{ExitInterrupted}
	}
	out.printer.Wait()
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

// platforms shows the state of each platform of a multi-platform build, and follows the build
// log of each platform pod.
func (out *output) platforms(logCtx context.Context, cl *cluster, ib *buildv1.ImageBuild, s *buildState) {
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
			if ps.PodName != "" && !s.streamed[ps.PodName] {
				s.streamed[ps.PodName] = true
				go out.streamLogs(logCtx, cl, ps.PodName, s.totalSteps, pt.Building, nil, 0)
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

// watchBuilds lists and then watches the ImageBuilds of a run, calling fn for each state seen until
// fn returns true. A dropped watch is resumed from a fresh list, so nothing is missed.
func watchBuilds(ctx context.Context, cl *cluster, runID string, fn func(ib *buildv1.ImageBuild, deleted bool) bool) error {
	sel := client.MatchingLabels{buildv1.LabelRun: runID}
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

// streamLogs follows the Kaniko log of a build pod and turns its steps into progress: building
// gets the steps, pushing (when Kaniko pushes, to destinations tags) the pushes. Logs are a
// bonus: without permission to read them, the build is shown by its phases alone.
func (out *output) streamLogs(ctx context.Context, cl *cluster, pod string, totalSteps int,
	building func(done, total int, step string), pushing func(done, total int), destinations int) {
	building(0, totalSteps, "")
	for ctx.Err() == nil {
		req := cl.pods.CoreV1().Pods(cl.namespace).GetLogs(pod, &corev1.PodLogOptions{Container: "kaniko", Follow: true})
		stream, err := req.Stream(ctx)
		if err != nil {
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
				return
			}
			// The Kaniko container waits for the source to be fetched; try again shortly.
			select {
			case <-ctx.Done():
				return
			case <-time.After(300 * time.Millisecond):
			}
			continue
		}
		follow(stream, totalSteps, building, pushing, destinations)
		_ = stream.Close()
		return
	}
}

// follow turns a Kaniko log into progress; destinations is the number of tags Kaniko pushes.
func follow(r io.Reader, totalSteps int, building func(done, total int, step string), pushing func(done, total int), destinations int) {
	var parser kanikolog.Parser
	steps, pushed := 0, 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		ev, ok := parser.Parse(sc.Text())
		if !ok {
			continue
		}
		switch ev.Kind {
		case kanikolog.Step:
			steps++
			building(steps-1, totalSteps, ev.Text)
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

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
