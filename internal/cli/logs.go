package cli

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/kanikolog"
	"github.com/fleetflow/flow-build/internal/kubename"
	"github.com/fleetflow/flow-build/internal/progress"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// logsOptions is `flow logs` in kubectl's shape (Complete, Validate, Run): the build output of
// the latest build of each service of a stage, found by the labels `flow build` puts on its
// ImageBuilds, printed or followed.
type logsOptions struct {
	env Env

	follow bool
	file   string
	kube   kubeFlags
	stageSelection

	// Set by Complete.
	lang usererr.Lang

	out       sync.Mutex // lines of several builds' output, written whole
	forbidden sync.Once
	failed    atomic.Bool // a log could not be read for a reason nobody can act on here
}

func newLogsCommand(env Env) *cobra.Command {
	o := &logsOptions{env: env}
	cmd := &cobra.Command{
		Use:   "logs [flags] [[SERVICE] STAGE]",
		Short: "Print or follow the build output of the latest build of each service of a stage",
		Long: `Print the build output of the latest build of each service of a FleetFlow stage: the Dockerfile
steps Kaniko ran and what they printed, one line each, led by [service] ([service linux/arm64]
for one platform of a build with several). With -f, follow the builds until they finish,
waiting for builds that have not started; also after flow build --no-wait or an interrupted
flow build.

The builds are the ImageBuilds flow build labelled with the project, the stage and the service,
in the namespace (--namespace, else the kubeconfig context's); the newest one of each service
is shown. The stage and the project are found as flow build finds them: the STAGE argument, -s,
$FLEET_STAGE, the stage named "default", the only stage; the project from the working directory
up (or --file, $FLEETFLOW_CONFIG_PATH, $FLEET_PROJECT_ROOT).

flow logs says on stderr which ImageBuild and pod it reads. A build pod deleted since (with its
ImageBuild's TTL, or by hand) has no log any more: the ImageBuild's status still holds the
result, and the last lines of a failed build's output, which flow logs then prints.

-f is --follow, as in kubectl logs; the config file is --file here. -n is --service, as in
flow build; the Kubernetes namespace is --namespace.`,
		Example: `  # The output of the latest build of every service of stage prod
  flow logs prod

  # Follow the builds of api and worker after flow build --no-wait
  flow logs -f -n api -n worker prod`,
		Args: stageArgs("logs"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Complete(args)
			if err := o.Validate(); err != nil {
				return err
			}
			return runFailure(o.Run(cmd.Context()))
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return (&buildOptions{env: o.env, file: o.file}).complete(cmd, args, toComplete)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "follow the builds until they finish, waiting for those that have not started")
	o.bindStage(f, "show")
	f.StringVar(&o.file, "file", "", "FleetFlow config file (default: $FLEETFLOW_CONFIG_PATH, else $FLEET_PROJECT_ROOT/.fleetflow/fleet.kdl, else .fleetflow/fleet.kdl, fleet.kdl or flow.kdl found from the working directory up)")
	o.kube.bind(f)
	return cmd
}

// Complete works out the stage and the services.
func (o *logsOptions) Complete(args []string) {
	o.lang = usererr.LangFromEnv(o.env.Getenv)
	o.completeStage(args, o.env.Getenv)
}

// Validate checks the command line on its own.
func (o *logsOptions) Validate() error {
	return o.validateStage("logs")
}

// Run shows the output of the latest build of every service asked for.
func (o *logsOptions) Run(ctx context.Context) error {
	plan, err := o.resolve()
	if err != nil {
		return err
	}
	for _, s := range plan.Skipped {
		if slices.Contains(o.onlyService, s.Service) {
			o.notef(txt("%s: not built (%s), so it has no build output", "%s: ビルドされません（%s）。ビルドの出力はありません", s.Service, s.Reason))
		}
	}
	if len(plan.Builds) == 0 {
		o.notef(txt("nothing to show: no service of stage %s is built", "表示するものがありません: ステージ %s にビルドされるサービスはありません", plan.Stage))
		return nil
	}
	cl, err := o.kube.connect(o.env)
	if err != nil {
		return err
	}
	builds, err := latestBuilds(ctx, cl, plan)
	if err != nil {
		return err
	}
	var found []shownBuild
	missing := 0
	for _, b := range plan.Builds {
		ib := builds[b.Service]
		if ib == nil {
			missing++
			o.notef(txt("%s: no ImageBuild of this service of stage %s in namespace %s", "%s: namespace %s にステージ %s のこのサービスの ImageBuild はありません", b.Service, plan.Stage, cl.namespace))
			continue
		}
		found = append(found, shownBuild{service: b.Service, ib: ib})
	}
	if len(found) == 0 {
		return usererr.New(usererr.KindConfig, txt("no builds of stage %s of project %s in namespace %s", "namespace %s にプロジェクト %s のステージ %s のビルドはありません", plan.Stage, plan.Project, cl.namespace)).
			WithRemedies(
				txt("build them: flow build %s", "ビルドしてください: flow build %s", plan.Stage),
				txt("or name the namespace they were built in with --namespace", "または --namespace でビルドした namespace を指定してください"),
				txt("finished builds are deleted after flow build's --ttl (24h by default)", "完了したビルドは flow build の --ttl（既定は 24h）の後に削除されます"))
	}
	if o.follow {
		err = o.followBuilds(ctx, cl, plan, found)
	} else {
		for _, b := range found {
			o.print(ctx, cl, b)
		}
	}
	switch {
	case ctx.Err() != nil:
		return exitError{ExitInterrupted}
	case err != nil:
		return err
	case missing > 0 && len(o.onlyService) > 0 || o.failed.Load():
		// A service asked for by name shows nothing, or a log could not be read: say so in the
		// exit status too.
		return exitError{ExitFailed}
	}
	return nil
}

// resolve reads the project and the stage as flow build does.
func (o *logsOptions) resolve() (*fleetconfig.Plan, error) {
	var environ []string
	if o.env.Environ != nil {
		environ = o.env.Environ()
	}
	conf, err := fleetconfig.Open(fleetconfig.Options{
		File: o.file, WorkDir: o.env.WorkDir, Stage: o.stage, Getenv: o.env.Getenv, Environ: environ,
	})
	if err != nil {
		return nil, err
	}
	o.noteStageChoice(conf, o.notef)
	plan, err := conf.Resolve(conf.Stage, fleetconfig.ResolveOptions{Services: o.onlyService})
	if err != nil {
		return nil, problemsOf(err)
	}
	return plan, nil
}

// shownBuild is the ImageBuild whose output is shown for a service.
type shownBuild struct {
	service string
	ib      *buildv1.ImageBuild
}

// latestBuilds finds the newest ImageBuild of every service of the stage, by the labels `flow
// build` sets (rendered manifests carry them too).
func latestBuilds(ctx context.Context, cl *cluster, plan *fleetconfig.Plan) (map[string]*buildv1.ImageBuild, error) {
	list := &buildv1.ImageBuildList{}
	err := cl.client.List(ctx, list, client.InNamespace(cl.namespace), client.MatchingLabels{
		buildv1.LabelProject: kubename.LabelValue(plan.Project),
		buildv1.LabelStage:   kubename.LabelValue(plan.Stage),
	})
	if apierrors.IsForbidden(err) {
		return nil, usererr.New(usererr.KindUnexpected, txt("you may not list ImageBuilds in namespace %s", "namespace %s の ImageBuild を一覧する権限がありません", cl.namespace)).
			WithTarget(cl.server).WithCause(err).
			WithRemedies(txt("ask for a Role granting get, list and watch on imagebuilds.build.fleetflow.dev (the ClusterRole flow-build-imagebuild-viewer has them), or choose another namespace with --namespace",
				"imagebuilds.build.fleetflow.dev の get、list、watch を許可する Role を依頼するか（ClusterRole flow-build-imagebuild-viewer に含まれています）、--namespace で別の namespace を指定してください"))
	}
	if err != nil {
		return nil, cl.explain(err, txt("listing the builds failed", "ビルドの一覧の取得に失敗しました"))
	}
	latest := map[string]*buildv1.ImageBuild{}
	for _, b := range plan.Builds {
		for i := range list.Items {
			ib := &list.Items[i]
			if ib.Labels[buildv1.LabelService] != kubename.LabelValue(b.Service) {
				continue
			}
			if cur := latest[b.Service]; cur == nil || newer(ib, cur) {
				latest[b.Service] = ib
			}
		}
	}
	return latest, nil
}

// newer reports whether a was created after b; builds created in the same second are told apart
// by name, which is as good as anything.
func newer(a, b *buildv1.ImageBuild) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return b.CreationTimestamp.Before(&a.CreationTimestamp)
	}
	return a.Name > b.Name
}

// buildPod is a pod of a build: the only one, or one platform's.
type buildPod struct {
	name     string
	platform string // for builds with spec.platforms
	label    string // the platform in output lines: only when there are several
}

// podsOf lists the pods of a build's current attempt, in spec.platforms order.
func podsOf(ib *buildv1.ImageBuild) []buildPod {
	if ib.Status.PodName != "" {
		return []buildPod{{name: ib.Status.PodName}}
	}
	var pods []buildPod
	for _, ps := range ib.Status.Platforms {
		if ps.PodName == "" {
			continue
		}
		p := buildPod{name: ps.PodName, platform: ps.Platform}
		if len(ib.Spec.Platforms) > 1 {
			p.label = ps.Platform
		}
		pods = append(pods, p)
	}
	return pods
}

// print shows what there is of one build's output now.
func (o *logsOptions) print(ctx context.Context, cl *cluster, b shownBuild) {
	pods := podsOf(b.ib)
	o.header(b, pods)
	if len(pods) == 0 {
		o.noPod(b)
		return
	}
	for _, p := range pods {
		err := cl.readLog(ctx, p.name, false, 0, nil, kanikolog.NewOutput(0), func(l kanikolog.Line) {
			if l.Shown {
				o.line(b.service, p.label, l.Text)
			}
		})
		o.unreadable(cl, b, p, err)
	}
	if !finished(b.ib) {
		o.notef(txt("%s: still building; flow logs -f follows it to the end", "%s: ビルド中です。flow logs -f で最後まで表示できます", b.service))
	}
}

// followBuilds follows the builds until every one has finished and its output has been read:
// pods are followed as they appear (a build waiting for a slot, a retried attempt, a new
// generation), and each log to its end.
func (o *logsOptions) followBuilds(ctx context.Context, cl *cluster, plan *fleetconfig.Plan, builds []shownBuild) error {
	type followed struct {
		service string
		latest  atomic.Pointer[buildv1.ImageBuild] // read by the streams once they end
		streams map[string]bool
		pending string // the last waiting message said
		done    bool
	}
	states := map[string]*followed{}
	for _, b := range builds {
		st := &followed{service: b.service, streams: map[string]bool{}}
		st.latest.Store(b.ib)
		states[b.ib.Name] = st
	}
	var wg sync.WaitGroup
	remaining := len(states)
	sel := client.MatchingLabels{buildv1.LabelProject: kubename.LabelValue(plan.Project), buildv1.LabelStage: kubename.LabelValue(plan.Stage)}
	err := watchBuilds(ctx, cl, sel, func(ib *buildv1.ImageBuild, deleted bool) bool {
		st := states[ib.Name]
		if st == nil || st.done {
			return remaining == 0
		}
		if deleted {
			st.done = true
			remaining--
			o.notef(txt("%s: ImageBuild %s was deleted", "%s: ImageBuild %s は削除されました", st.service, ib.Name))
			return remaining == 0
		}
		st.latest.Store(ib)
		for _, p := range podsOf(ib) {
			if st.streams[p.name] {
				continue
			}
			st.streams[p.name] = true
			o.header(shownBuild{service: st.service, ib: ib}, []buildPod{p})
			wg.Add(1)
			go func() {
				defer wg.Done()
				// While the build runs, a container that has not started yet will.
				waiting := func() bool { return !finished(st.latest.Load()) }
				err := cl.readLog(ctx, p.name, true, 0, waiting, kanikolog.NewOutput(0), func(l kanikolog.Line) {
					if l.Shown {
						o.line(st.service, p.label, l.Text)
					}
				})
				o.unreadable(cl, shownBuild{service: st.service, ib: st.latest.Load()}, p, err)
			}()
		}
		if len(podsOf(ib)) == 0 && !finished(ib) {
			if msg := readyText(ib); msg != st.pending {
				st.pending = msg
				o.notef(txt("%s: waiting for the build pod of ImageBuild %s (%s)", "%s: ImageBuild %s のビルド pod を待っています（%s）", st.service, ib.Name, msg))
			}
		}
		if finished(ib) {
			st.done = true
			remaining--
		}
		return remaining == 0
	})
	wg.Wait()
	if err != nil {
		return err
	}
	for _, b := range builds {
		st := states[b.ib.Name]
		if ib := st.latest.Load(); finished(ib) {
			if len(podsOf(ib)) == 0 {
				o.noPod(shownBuild{service: st.service, ib: ib})
			}
			o.notef(txt("%s: ImageBuild %s: %s", "%s: ImageBuild %s: %s", st.service, ib.Name, readyText(ib)))
		}
	}
	return nil
}

// unreadable says why a pod's log could not be read (err, from readLog) and shows the lines
// the status keeps instead.
func (o *logsOptions) unreadable(cl *cluster, b shownBuild, p buildPod, err error) {
	switch {
	case err == nil || errors.Is(err, context.Canceled):
	case errors.Is(err, errLogsForbidden):
		o.forbidden.Do(func() { o.notef(logsForbiddenNote(cl.namespace)) })
		o.kept(b, p)
	case errors.Is(err, errPodGone):
		o.notef(txt("%s: pod %s of ImageBuild %s is gone (deleted with the build's TTL, or by hand), and its log with it; the ImageBuild's status keeps the result: %s",
			"%[1]s: ImageBuild %[3]s の pod %[2]s はもうありません（ビルドの TTL または手動で削除されました）。ログもありません。ImageBuild のステータスに結果が残っています: %[4]s",
			b.service, p.name, b.ib.Name, readyText(b.ib)))
		o.kept(b, p)
		o.notef(txt("kubectl describe imagebuild -n %s %s shows the same; run flow build again to see a new build's output", "kubectl describe imagebuild -n %s %s でも確認できます。新しいビルドの出力を見るには flow build を再実行してください", b.ib.Namespace, b.ib.Name))
	case errors.Is(err, errNotStarted):
		o.notef(txt("%s: the kaniko container of pod %s never started: %s", "%s: pod %s の kaniko コンテナは起動しませんでした: %s", b.service, p.name, readyText(b.ib)))
	case apierrors.IsBadRequest(err):
		// The container has not started: it waits for the source to be fetched, or never will.
		o.notef(txt("%s: no output from pod %s yet (%s); the build: %s", "%s: pod %s の出力はまだありません（%s）。ビルド: %s", b.service, p.name, apiMessage(err), readyText(b.ib)))
	default:
		o.failed.Store(true)
		o.notef(txt("%s: cannot read the log of pod %s: %s", "%s: pod %s のログを読み込めません: %s", b.service, p.name, apiMessage(err)))
		o.kept(b, p)
	}
}

// apiMessage is what the API server said, without client-go's wrapping.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return strings.TrimSpace(status.Status().Message)
	}
	return err.Error()
}

// kept prints the last lines of a failed build's output that the operator kept in its status,
// when they are this pod's.
func (o *logsOptions) kept(b shownBuild, p buildPod) {
	fl := b.ib.Status.FailureLog
	if fl == nil || fl.Pod != p.name || len(fl.Tail) == 0 {
		return
	}
	o.notef(txt("%s: the last lines of its output, kept in the ImageBuild's status:", "%s: ImageBuild のステータスに保存された最後の出力:", b.service))
	for _, l := range fl.Tail {
		o.line(b.service, p.label, l)
	}
}

// header says which ImageBuild and pods the lines that follow come from.
func (o *logsOptions) header(b shownBuild, pods []buildPod) {
	var names []string
	for _, p := range pods {
		if p.platform != "" {
			names = append(names, p.name+" ("+p.platform+")")
		} else {
			names = append(names, p.name)
		}
	}
	state := phaseText(b.ib)
	switch len(names) {
	case 0:
		o.notef(txt("==> %s: ImageBuild %s (%s)", "==> %s: ImageBuild %s（%s）", b.service, b.ib.Name, state))
	case 1:
		o.notef(txt("==> %s: ImageBuild %s (%s), pod %s", "==> %s: ImageBuild %s（%s）、pod %s", b.service, b.ib.Name, state, names[0]))
	default:
		o.notef(txt("==> %s: ImageBuild %s (%s), pods %s", "==> %s: ImageBuild %s（%s）、pod %s", b.service, b.ib.Name, state, strings.Join(names, ", ")))
	}
}

// noPod explains a build without a pod to read.
func (o *logsOptions) noPod(b shownBuild) {
	if finished(b.ib) {
		o.notef(txt("%s: the build ended without a build pod: %s", "%s: ビルド pod なしでビルドが終了しました: %s", b.service, readyText(b.ib)))
		return
	}
	o.notef(txt("%s: no build pod yet (%s); flow logs -f waits for it", "%s: ビルド pod はまだありません（%s）。flow logs -f で待つことができます", b.service, readyText(b.ib)))
}

// line prints one line of build output on stdout.
func (o *logsOptions) line(service, platform, text string) {
	o.out.Lock()
	defer o.out.Unlock()
	// A failed write (a closed pipe) ends nothing: the exit status says how the command went.
	_, _ = io.WriteString(o.env.Stdout, progress.LogLine(service, platform, text)+"\n")
}

// notef prints a note for people on stderr, in their language.
func (o *logsOptions) notef(t usererr.Text) {
	o.out.Lock()
	defer o.out.Unlock()
	notef(o.env.Stderr, "%s\n", t.In(o.lang))
}

// finished reports whether the build of the ImageBuild's current generation has ended.
func finished(ib *buildv1.ImageBuild) bool {
	return ib.Status.Phase.Finished() && ib.Status.ObservedGeneration == ib.Generation
}

// phaseText is a build's phase, with the reason of a failure: "Failed, BuildFailed".
func phaseText(ib *buildv1.ImageBuild) string {
	phase := string(ib.Status.Phase)
	if phase == "" {
		phase = "new"
	}
	if c := meta.FindStatusCondition(ib.Status.Conditions, buildv1.ConditionReady); c != nil && ib.Status.Phase == buildv1.PhaseFailed {
		phase += ", " + c.Reason
	}
	return phase
}

// readyText is where a build is and why, from its Ready condition: "Failed, BuildFailed: …".
func readyText(ib *buildv1.ImageBuild) string {
	c := meta.FindStatusCondition(ib.Status.Conditions, buildv1.ConditionReady)
	if c == nil || c.Message == "" {
		return phaseText(ib)
	}
	return phaseText(ib) + ": " + c.Message
}
