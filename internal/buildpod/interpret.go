package buildpod

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/gitresolve"
	"github.com/fleetflow/flow-build/internal/userns"
)

// Result is what a build pod says about its build.
type Result struct {
	// Done is true once the pod has finished (succeeded or failed) or can never finish.
	Done bool
	// Phase is Building while not Done, then Succeeded or Failed. A Lost pod reports Failed.
	Phase v1alpha1.BuildPhase
	// Reason is one of the v1alpha1.Reason* constants.
	Reason string
	// Message tells a person what failed, for which image, and what to do. It is one line of at
	// most MaxMessageBytes, and never contains credentials. Empty while a build simply runs.
	Message string
	// Digest is the pushed manifest digest, "sha256:<64 hex>". It is set only when Kaniko exited 0
	// and its termination message is a valid digest: Kaniko writes the digest file before it
	// pushes, so after a failed push the file holds the digest of an image the registry never got.
	Digest string
	// Lost is true when the pod ended for reasons outside the build (evicted, preempted, deleted,
	// its node gone): the controller may retry with a new attempt. Done is true as well.
	Lost bool
	// CauseInLog is true when the pod failed but its termination message cannot hold the cause:
	// Kaniko prints its usage text after errors it meets before building (a failed git clone, a
	// missing Dockerfile), which pushes the error out of the log tail the kubelet keeps (2 KiB),
	// and after a failed push the termination message holds the digest instead of the log.
	// Reading the kaniko container's log and calling InterpretWithLog gives the precise cause.
	CauseInLog bool
	// PullStuck is set while the build has not finished because a container of the pod waits for
	// an image the node failed to pull.
	PullStuck *PullStuck
}

// PullStuck describes a build pod whose own image (the Kaniko executor's, or the fetch-source
// image) the node cannot pull. The images are the manager's settings, not the user's: waiting
// for spec.timeout would only delay an error a person has to fix.
type PullStuck struct {
	// Permanent is true when waiting cannot help (an invalid image name, pull policy Never).
	// Otherwise the registry may recover, and the caller waits a few minutes before giving up.
	Permanent bool
	// Failure is the result to report when the caller gives up: Failed, ImagePullFailed, with a
	// message naming the image and the manager setting that chose it.
	Failure Result
}

// ValidDigest reports whether s is a sha256 digest as registries print it: "sha256:" followed by
// 64 lowercase hex digits.
func ValidDigest(s string) bool {
	const prefix = "sha256:"
	if len(s) != len(prefix)+64 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, c := range s[len(prefix):] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Interpret reads a build pod's status. It never fails: a pod it cannot make sense of is
// reported as still building (the controller's own timeout ends that) or as lost.
func Interpret(pod *corev1.Pod) Result { return interpret(pod, "") }

// InterpretWithLog is Interpret with the kaniko container's log (or its last few hundred lines)
// classified instead of the termination message. Use it when Interpret set CauseInLog. The
// digest still comes only from the termination message.
func InterpretWithLog(pod *corev1.Pod, kanikoLog string) Result { return interpret(pod, kanikoLog) }

func interpret(pod *corev1.Pod, kanikoLog string) Result {
	if pod == nil {
		return lost("the build pod is gone")
	}
	f := factsOf(pod)
	kaniko := containerStatus(pod.Status.ContainerStatuses, KanikoContainer)
	if kaniko == nil {
		// In the pods of a platform pushed by digest, Kaniko runs before the push container.
		kaniko = containerStatus(pod.Status.InitContainerStatuses, KanikoContainer)
	}
	fetch := containerStatus(pod.Status.InitContainerStatuses, FetchContainer)
	push := containerStatus(pod.Status.ContainerStatuses, PushContainer)
	var kt, pt *corev1.ContainerStateTerminated
	if kaniko != nil {
		kt = kaniko.State.Terminated
	}
	if push != nil {
		pt = push.State.Terminated
	}
	// last is how the container that ran last ended: for lost pods, a kill there is the node's doing.
	last := kt

	if kt != nil && kt.ExitCode == 0 && f.byDigest {
		last = pt
		switch {
		case pt != nil && pt.ExitCode == 0:
			return pushedByDigest(f, kt, pt)
		case pt != nil && !killedFromOutside(pt):
			return pushFailed(f, pt)
		}
		// Still pushing, or stopped from outside: the checks below tell which.
	} else if kt != nil && kt.ExitCode == 0 {
		if d := strings.TrimSpace(kt.Message); ValidDigest(d) {
			verb := "pushed"
			if f.noPush {
				verb = "built (not pushed)"
			}
			return Result{Done: true, Phase: v1alpha1.PhaseSucceeded, Reason: v1alpha1.ReasonSucceeded,
				Message: finalMessage(fmt.Sprintf("%s %s, digest %s", verb, f.image(), d)), Digest: d}
		}
		return failed(v1alpha1.ReasonPushFailed, fmt.Sprintf(
			"Kaniko finished building %s but reported no valid image digest (its termination message is %q), so the push cannot be confirmed; "+
				"check that the manager's executor image is Kaniko and supports --digest-file, then rebuild",
			f.image(), clip(oneLine(cleanText(kt.Message)), 100)))
	}

	if pod.Status.Reason == "DeadlineExceeded" {
		return failed(v1alpha1.ReasonTimeout, fmt.Sprintf(
			"the build of %s ran longer than spec.timeout (%s) and was stopped; raise spec.timeout or speed up the build (keep the layer cache on, shrink the build context)",
			f.image(), formatDuration(f.timeout)))
	}
	if pod.Status.Reason == "Evicted" && contextVolumeFull(pod.Status.Message) {
		// The fetcher's own bound keeps an honest bundle below the volume's limit; a context that
		// still overflows it is the user's to trim.
		return failed(v1alpha1.ReasonSourceFetchFailed, fmt.Sprintf(
			"the build context of %s takes more disk than a build pod unpacks (%s), and the pod was evicted; exclude what the build does not need with .dockerignore",
			f.image(), clip(strings.TrimSpace(pod.Status.Message), 200)))
	}
	if pod.Status.Reason == "Evicted" && ownStorageLimit(pod.Status.Message) {
		// Exceeding its own limit is not bad luck: a retry would hit it again.
		return failed(v1alpha1.ReasonBuildFailed, fmt.Sprintf(
			"the build of %s used more disk than allowed and its pod was evicted (%s); raise spec.resources.limits.ephemeral-storage (now %s) or make the image smaller",
			f.image(), clip(strings.TrimSpace(pod.Status.Message), 200), orNone(f.ephemeralLimit)))
	}
	if why, ok := lostWhy(pod, last, fetch); ok {
		return lost(why)
	}

	if fetch != nil && fetch.State.Terminated != nil && fetch.State.Terminated.ExitCode != 0 {
		return fetchFailed(f, fetch.State.Terminated)
	}

	if kt != nil && kt.ExitCode != 0 {
		if kt.Reason == "OOMKilled" {
			return failed(v1alpha1.ReasonOOMKilled, fmt.Sprintf(
				"Kaniko ran out of memory building %s (memory limit %s) and was killed; raise spec.resources.limits.memory: Kaniko unpacks base images and snapshots the filesystem in memory, large images need several GiB",
				f.image(), orNone(f.memoryLimit)))
		}
		text, fromLog := kt.Message, false
		if strings.TrimSpace(kanikoLog) != "" && !ValidDigest(strings.TrimSpace(kanikoLog)) {
			text, fromLog = kanikoLog, true
		}
		c := classify(f, text, kt.ExitCode)
		r := failed(c.reason, c.message)
		r.CauseInLog = c.causeInLog && !fromLog
		return r
	}

	switch pod.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		// Ended without Kaniko ever finishing: something outside the build stopped it.
		return lost(fmt.Sprintf("build pod %s ended (phase %s%s) before Kaniko finished", pod.Name, pod.Status.Phase, reasonSuffix(pod.Status.Reason, pod.Status.Message)))
	}
	return progress(pod, f, kaniko, fetch, push)
}

// killedFromOutside reports a container that did not end on its own: killed by a signal for
// reasons other than its memory limit, or lost with its node.
func killedFromOutside(t *corev1.ContainerStateTerminated) bool {
	return t.Reason == "ContainerStatusUnknown" || t.Reason != "OOMKilled" && (t.ExitCode == 137 || t.ExitCode == 143)
}

// pushedByDigest is the result of a platform's pod whose push container pushed Kaniko's image by
// digest. Both report the digest; they must agree, or the pushed image is not the one built.
func pushedByDigest(f facts, kt, pt *corev1.ContainerStateTerminated) Result {
	d := strings.TrimSpace(pt.Message)
	built := strings.TrimSpace(kt.Message)
	switch {
	case !ValidDigest(d):
		return failed(v1alpha1.ReasonPushFailed, fmt.Sprintf(
			"the push container of %s exited 0 but reported no valid digest (its termination message is %q); check that the manager's --fetcher-image is the manager's own image, then rebuild",
			f.image(), clip(oneLine(cleanText(pt.Message)), 100)))
	case ValidDigest(built) && built != d:
		return failed(v1alpha1.ReasonPushFailed, fmt.Sprintf(
			"Kaniko built %s with digest %s but the push container pushed %s; rebuild, and report this if it happens again",
			f.image(), built, d))
	}
	return Result{Done: true, Phase: v1alpha1.PhaseSucceeded, Reason: v1alpha1.ReasonSucceeded,
		Message: finalMessage(fmt.Sprintf("pushed %s by digest: %s@%s", f.image(), f.repository, d)), Digest: d}
}

// pushFailed classifies the failure of the container that pushes a platform's image by digest.
func pushFailed(f facts, pt *corev1.ContainerStateTerminated) Result {
	if pt.Reason == "OOMKilled" {
		return failed(v1alpha1.ReasonPushFailed, fmt.Sprintf(
			"pushing %s ran out of memory (limit %s); raise spec.resources.limits.memory", f.image(), orNone(f.memoryLimit)))
	}
	text := cleanText(pt.Message)
	line := lastErrorLine(splitLines(text))
	if line == "" {
		line = lastLine(splitLines(text))
	}
	if line == "" {
		line = exitCodeText(pt.ExitCode)
	}
	host := hostIn(line, f.repository)
	low := strings.ToLower(line)
	switch {
	case strings.Contains(line, OutputDir+"/") && !strings.Contains(line, "/v2/"):
		// The image Kaniko left behind could not be read: nothing the registry or the user did.
		return failed(v1alpha1.ReasonPushFailed, fmt.Sprintf(
			"the push container could not read the image Kaniko built for %s (%s); rebuild, and report this if it happens again: kubectl logs -n %s %s -c %s",
			f.image(), clip(line, 300), f.namespace, f.pod, PushContainer))
	case isAuth(line):
		return failed(v1alpha1.ReasonAuthenticationFailed, fmt.Sprintf(
			"registry %s refused the push of %s (%s); %s", host, f.image(), clip(line, 300), credentialFix(f, host)))
	case strings.Contains(low, "quota") || strings.Contains(low, "toomanyrequests"):
		return failed(v1alpha1.ReasonPushFailed, fmt.Sprintf(
			"registry %s refused the push of %s for a quota or rate limit: %s; free space in the registry or raise its limits, then rebuild", host, f.image(), clip(line, 300)))
	case isNetwork(line):
		return failed(v1alpha1.ReasonPushFailed, fmt.Sprintf(
			"cannot reach registry %s to push %s: %s; %s", host, f.image(), netCause(line), networkHint(line)))
	}
	return failed(v1alpha1.ReasonPushFailed, fmt.Sprintf(
		"pushing %s by digest failed: %s; details: kubectl logs -n %s %s -c %s", f.image(), clip(line, 400), f.namespace, f.pod, PushContainer))
}

func failed(reason, message string) Result {
	return Result{Done: true, Phase: v1alpha1.PhaseFailed, Reason: reason, Message: finalMessage(message)}
}

func lost(message string) Result {
	return Result{Done: true, Lost: true, Phase: v1alpha1.PhaseFailed, Reason: v1alpha1.ReasonPodLost, Message: finalMessage(message)}
}

func building(message string) Result {
	return Result{Phase: v1alpha1.PhaseBuilding, Reason: v1alpha1.ReasonBuilding, Message: finalMessage(message)}
}

// lostPodReasons are the pod status reasons the kubelet gives when it stopped or refused a pod for
// reasons of its own: node pressure, shutdown, preemption, admission. None of them says anything
// about the build.
var lostPodReasons = map[string]bool{
	"Evicted":                  true,
	"Preempting":               true,
	"NodeLost":                 true,
	"Shutdown":                 true,
	"NodeShutdown":             true,
	"Terminated":               true,
	"UnexpectedAdmissionError": true,
	"NodeAffinity":             true,
	"InvalidNodeInfo":          true,
}

func lostWhy(pod *corev1.Pod, kt *corev1.ContainerStateTerminated, fetch *corev1.ContainerStatus) (string, bool) {
	// A container killed by a signal (137 = SIGKILL, 143 = SIGTERM) while its pod was being taken
	// away did not fail on its own; any other exit is the build's own verdict and is classified.
	killed := kt == nil || (kt.Reason != "OOMKilled" && (kt.ExitCode == 137 || kt.ExitCode == 143))
	if pod.Status.Phase == corev1.PodFailed && (lostPodReasons[pod.Status.Reason] || strings.HasPrefix(pod.Status.Reason, "OutOf")) && killed {
		return fmt.Sprintf("build pod %s was stopped by its node (%s)", pod.Name, strings.TrimPrefix(reasonSuffix(pod.Status.Reason, pod.Status.Message), ", ")), true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && killed {
			return fmt.Sprintf("build pod %s was disrupted (%s)", pod.Name, strings.TrimPrefix(reasonSuffix(c.Reason, c.Message), ", ")), true
		}
	}
	if pod.DeletionTimestamp != nil && killed {
		return fmt.Sprintf("build pod %s was deleted before it finished", pod.Name), true
	}
	if kt != nil && kt.Reason == "ContainerStatusUnknown" {
		return fmt.Sprintf("the kaniko container of build pod %s vanished (%s)", pod.Name, clip(kt.Message, 200)), true
	}
	if fetch != nil && fetch.State.Terminated != nil && fetch.State.Terminated.Reason == "ContainerStatusUnknown" {
		return fmt.Sprintf("the fetch-source container of build pod %s vanished (%s)", pod.Name, clip(fetch.State.Terminated.Message, 200)), true
	}
	return "", false
}

// contextVolumeFull recognises the kubelet's eviction message for a pod whose workspace or
// download volume outgrew its size limit.
func contextVolumeFull(msg string) bool {
	return strings.Contains(msg, "exceeds the limit") &&
		(strings.Contains(msg, `EmptyDir volume "`+workspaceVolume+`"`) || strings.Contains(msg, `EmptyDir volume "`+downloadVolume+`"`))
}

// ownStorageLimit recognises the kubelet's eviction messages for a pod that exceeded its own
// ephemeral-storage limits, as opposed to a node that ran short.
func ownStorageLimit(msg string) bool {
	return strings.Contains(msg, "exceeds the total limit") ||
		strings.Contains(msg, "exceeded its local ephemeral storage limit") ||
		(strings.Contains(msg, "EmptyDir volume") && strings.Contains(msg, "exceeds the limit"))
}

func fetchFailed(f facts, t *corev1.ContainerStateTerminated) Result {
	bundle := f.bundle
	if bundle == "" {
		bundle = "the source bundle"
	}
	if t.Reason == "OOMKilled" {
		return failed(v1alpha1.ReasonSourceFetchFailed, fmt.Sprintf(
			"fetching %s ran out of memory (limit %s); raise spec.resources.limits.memory", bundle, orNone(f.memoryLimit)))
	}
	text := cleanText(userns.WithoutReport(t.Message))
	if t.ExitCode == ExitPlatformMismatch && strings.HasPrefix(strings.TrimSpace(text), "base image ") {
		return failed(v1alpha1.ReasonPlatformMismatch, clip(strings.TrimSpace(text), 800))
	}
	line := lastErrorLine(splitLines(text))
	if line == "" {
		line = lastLine(splitLines(text))
	}
	if line == "" {
		line = fmt.Sprintf("exit code %d", t.ExitCode)
	}
	var hint string
	reason := v1alpha1.ReasonSourceFetchFailed
	switch {
	case isAuth(line):
		// The same Secret serves the bundle pull and the push: a refusal here is the credentials'
		// fault, and the reason says so, whichever step met it first.
		reason = v1alpha1.ReasonAuthenticationFailed
		hint = "the registry refused access to the bundle: " + credentialFix(f, registryHost(bundle))
	case manifestMissing(line):
		hint = "the bundle is no longer in the registry (deleted or garbage-collected): run flow build again to upload it"
	case isNetwork(line):
		hint = "the registry cannot be reached from the cluster: " + networkHint(line)
	default:
		hint = fmt.Sprintf("run flow build again; details: kubectl logs -n %s %s -c %s", f.namespace, f.pod, FetchContainer)
	}
	if !strings.Contains(line, "source bundle") {
		line = "fetching " + bundle + ": " + line
	}
	return failed(reason, clip(line, 600)+"; "+hint)
}

// waitingProblems are container waiting reasons that need a person: they are reported while the
// pod waits, so that the cause is visible long before spec.timeout ends the build.
var waitingProblems = map[string]string{
	"CreateContainerConfigError": "check that the push Secret and service account exist",
	"CreateContainerError":       "see kubectl describe pod",
	"RunContainerError":          "see kubectl describe pod",
}

// pullProblems are the waiting reasons of a container whose image the node cannot pull, and
// whether waiting can help.
var pullProblems = map[string]struct{ permanent bool }{
	"ErrImagePull":      {false},
	"ImagePullBackOff":  {false},
	"ErrImageNeverPull": {true},
	"InvalidImageName":  {true},
}

// pullStuck reports a container of the pod that cannot get its image, with the message that
// names the image and the manager setting that chose it.
func pullStuck(pod *corev1.Pod, s *corev1.ContainerStatus) *PullStuck {
	w := s.State.Waiting
	problem, ok := pullProblems[w.Reason]
	if !ok {
		return nil
	}
	image := s.Image
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == s.Name {
			image = c.Image
		}
	}
	var what, setting string
	switch s.Name {
	case FetchContainer, ProbeContainer, PushContainer:
		what, setting = "the manager's own image (fetch-source, userns-probe, push-image)", "the manager's own image (Helm values image.repository and image.tag; manager flag --fetcher-image)"
	default:
		what, setting = "the Kaniko executor image", "the manager's --executor-image (Helm value executor.image)"
	}
	fix := "fix the image name, or let the nodes pull it (registry reachable, image pull credentials)"
	if w.Reason == "ErrImageNeverPull" {
		fix = "the image is not on the node and the pull policy is Never: load it onto the nodes or change the manager's --image-pull-policy (Helm value executor.pullPolicy)"
	}
	return &PullStuck{
		Permanent: problem.permanent,
		Failure: failed(v1alpha1.ReasonImagePullFailed, fmt.Sprintf(
			"the node cannot pull %s %s for build pod %s (%s: %s); it is set by %s: %s",
			what, image, pod.Name, w.Reason, clip(strings.TrimSpace(w.Message), 300), setting, fix)),
	}
}

func progress(pod *corev1.Pod, f facts, kaniko, fetch, push *corev1.ContainerStatus) Result {
	if pod.Status.Phase == corev1.PodUnknown {
		return building(fmt.Sprintf("the node of build pod %s does not report its state%s; the build continues when it comes back or fails at spec.timeout",
			pod.Name, reasonSuffix(pod.Status.Reason, pod.Status.Message)))
	}
	probe := containerStatus(pod.Status.InitContainerStatuses, ProbeContainer)
	for _, s := range []*corev1.ContainerStatus{fetch, probe, kaniko, push} {
		if s == nil || s.State.Waiting == nil {
			continue
		}
		if stuck := pullStuck(pod, s); stuck != nil {
			r := building(fmt.Sprintf("waiting: container %s of pod %s cannot get its image: %s", s.Name, pod.Name, stuck.Failure.Message))
			r.PullStuck = stuck
			return r
		}
		if hint, ok := waitingProblems[s.State.Waiting.Reason]; ok {
			return building(fmt.Sprintf("waiting: container %s of pod %s: %s: %s; %s",
				s.Name, pod.Name, s.State.Waiting.Reason, clip(s.State.Waiting.Message, 400), hint))
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return building(fmt.Sprintf("waiting for a node to run build pod %s%s", pod.Name, reasonSuffix(c.Reason, c.Message)))
		}
	}
	if fetch != nil && fetch.State.Running != nil {
		return building(fmt.Sprintf("fetching source bundle %s", f.bundle))
	}
	if push != nil && push.State.Running != nil {
		return building(fmt.Sprintf("pushing %s by digest", f.image()))
	}
	return building("")
}

// facts are what a pod's spec says about its build, recovered so that messages can name the
// image, the Secret and the source without the ImageBuild at hand.
type facts struct {
	namespace, pod string
	destinations   []string
	noPush         bool
	secret         string
	serviceAccount string
	bundle         string
	gitURL, gitRev string
	gitRef         string // the branch or tag a pinned commit is cloned from
	gitSecret      string // spec.source.git.secretRef
	dockerfile     string
	target         string
	memoryLimit    string
	ephemeralLimit string
	timeout        time.Duration
	contextIsGit   bool
	contextSubPath string
	// Platform pods (spec.platforms): the platform, whether it runs under emulation, and, when
	// the image is pushed by digest, the repository it goes to.
	platform   string
	emulated   bool
	node       string
	byDigest   bool
	repository string
	// userNamespace is true when the pod asked for a user namespace of its own; uidMap is what
	// the pod reported it got (nil before the report).
	userNamespace bool
	uidMap        userns.Mapping
}

func factsOf(pod *corev1.Pod) facts {
	f := facts{namespace: pod.Namespace, pod: pod.Name}
	f.userNamespace = pod.Spec.HostUsers != nil && !*pod.Spec.HostUsers
	f.uidMap, _ = UserNamespace(pod)
	if pod.Spec.ServiceAccountName != "" && pod.Spec.AutomountServiceAccountToken != nil && *pod.Spec.AutomountServiceAccountToken {
		f.serviceAccount = pod.Spec.ServiceAccountName
	}
	if pod.Spec.ActiveDeadlineSeconds != nil {
		f.timeout = time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name == dockerConfigVolume && v.Secret != nil {
			f.secret = v.Secret.SecretName
		}
	}
	f.node = pod.Spec.NodeName
	for k := range pod.Spec.NodeSelector {
		if strings.HasPrefix(k, v1alpha1.EmulationLabelPrefix) {
			f.emulated = true
		}
	}
	for _, c := range pod.Spec.Containers {
		if c.Name != PushContainer {
			continue
		}
		f.byDigest = true
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--repository="); ok {
				f.repository = v
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == FetchContainer {
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--image="); ok {
					f.bundle = v
				}
			}
		}
	}
	for _, c := range append(pod.Spec.Containers, pod.Spec.InitContainers...) {
		if c.Name != KanikoContainer {
			continue
		}
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			f.memoryLimit = q.String()
		}
		if q, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]; ok {
			f.ephemeralLimit = q.String()
		}
		scheme := "https"
		for _, e := range c.Env {
			if e.Name == "GIT_PULL_METHOD" && e.Value != "" {
				scheme = e.Value
			}
			if e.Name == gitresolve.PasswordEnv && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				f.gitSecret = e.ValueFrom.SecretKeyRef.Name
			}
		}
		for _, a := range c.Args {
			name, value, _ := strings.Cut(a, "=")
			switch name {
			case "--destination":
				f.destinations = append(f.destinations, value)
			case "--no-push":
				f.noPush = true
			case "--dockerfile":
				f.dockerfile = strings.TrimPrefix(value, WorkspaceDir+"/")
			case "--target":
				f.target = value
			case "--custom-platform":
				f.platform = value
			case "--context-sub-path":
				f.contextSubPath = value
			case "--git":
				f.gitRev = strings.TrimPrefix(value, "branch=")
			case "--context":
				if rest, ok := strings.CutPrefix(value, "git://"); ok {
					f.contextIsGit = true
					repo, rev, _ := strings.Cut(rest, "#")
					f.gitURL = scheme + "://" + repo
					if ref, commit, ok := strings.Cut(rev, "#"); ok {
						f.gitRef, rev = ref, commit
					}
					if rev != "" {
						f.gitRev = rev
					}
				}
			}
		}
	}
	return f
}

// inUserNamespace reports whether the build ran in a user namespace: as the pod reported it, or,
// before the report, as it asked.
func (f facts) inUserNamespace() bool {
	if f.uidMap != nil {
		return f.uidMap.RootIsUnprivileged()
	}
	return f.userNamespace
}

// image names the primary destination (or the repository of an image pushed by digest) and the
// platform it is built for, for messages.
func (f facts) image() string {
	name := "the image"
	switch {
	case len(f.destinations) > 0:
		name = f.destinations[0]
	case f.repository != "":
		name = f.repository
	}
	if f.platform != "" {
		name += " for " + f.platform
	}
	return name
}

func (f facts) logs() string {
	return fmt.Sprintf("kubectl logs -n %s %s -c %s", f.namespace, f.pod, KanikoContainer)
}

func containerStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

func reasonSuffix(reason, message string) string {
	message = strings.TrimSpace(message)
	switch {
	case reason != "" && message != "":
		return ", " + reason + ": " + clip(message, 300)
	case reason != "":
		return ", " + reason
	case message != "":
		return ", " + clip(message, 300)
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none set"
	}
	return s
}

// formatDuration prints 30m instead of 30m0s.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "unknown"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// registryHost is the registry part of an image reference, with Docker Hub's implicit host
// made explicit.
func registryHost(ref string) string {
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "https://"), "http://")
	first, _, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost" || strings.HasPrefix(first, "[")) {
		return normalizeHost(first)
	}
	return "docker.io"
}

func normalizeHost(h string) string {
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}

// dockerServerFlag is kubectl's --docker-server for host. For Docker Hub it is left out: kubectl's
// default (https://index.docker.io/v1/) is the key Docker Hub credentials must be stored under.
func dockerServerFlag(host string) string {
	if host == "docker.io" || host == "" {
		return ""
	}
	return " --docker-server=" + host
}

var ecrHost = regexp.MustCompile(`^[0-9]+\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$`)

// credentialFix says how to give the build working credentials for host.
func credentialFix(f facts, host string) string {
	fix := credentialFixFor(f, host)
	if ecrHost.MatchString(host) && f.serviceAccount == "" {
		// ECR passwords are 12-hour tokens: a Secret made from one breaks the next day.
		fix += "; for Amazon ECR prefer spec.serviceAccountName with an IAM role (IRSA), since ECR passwords expire after 12 hours"
	}
	return fix
}

func credentialFixFor(f facts, host string) string {
	server := dockerServerFlag(host)
	switch {
	case f.secret != "":
		return fmt.Sprintf("fix Secret %s/%s, e.g. kubectl create secret docker-registry %s -n %s%s --docker-username=<user> --docker-password="+passwordPlaceholder+" --dry-run=client -o yaml | kubectl apply -f -",
			f.namespace, f.secret, f.secret, f.namespace, server)
	case f.serviceAccount != "":
		return fmt.Sprintf("no spec.pushSecretRef is set, so only service account %s/%s can grant access (workload identity, IRSA): give it access to %s, "+
			"or create a Secret with kubectl create secret docker-registry NAME -n %s%s --docker-username=<user> --docker-password="+passwordPlaceholder+" and set spec.pushSecretRef.name",
			f.namespace, f.serviceAccount, host, f.namespace, server)
	default:
		return fmt.Sprintf("no push Secret is set: create one with kubectl create secret docker-registry NAME -n %s%s --docker-username=<user> --docker-password="+passwordPlaceholder+" and set spec.pushSecretRef.name to NAME",
			f.namespace, server)
	}
}

// exitCodeText describes an exit code for people: 137 is a kill, which usually means memory.
func exitCodeText(code int32) string {
	switch code {
	case 137:
		return "exit code 137: killed, often for lack of memory"
	case 143:
		return "exit code 143: terminated"
	}
	return "exit code " + strconv.Itoa(int(code))
}

// UserNamespace is the UID mapping the build pod reported from its first init container (see
// package userns), and false while it has not reported: before that container finished, or when it
// could not tell. All containers of a pod share its user namespace, so the mapping is Kaniko's too.
func UserNamespace(pod *corev1.Pod) (userns.Mapping, bool) {
	for _, name := range []string{FetchContainer, ProbeContainer} {
		if s := containerStatus(pod.Status.InitContainerStatuses, name); s != nil && s.State.Terminated != nil {
			return userns.FromMessage(s.State.Terminated.Message)
		}
	}
	return nil, false
}

// GitCommit is the commit the probe of a git build pod resolved the branch or tag to build to,
// and false while it has not reported one.
func GitCommit(pod *corev1.Pod) (string, bool) {
	if s := containerStatus(pod.Status.InitContainerStatuses, ProbeContainer); s != nil && s.State.Terminated != nil {
		return gitresolve.FromMessage(s.State.Terminated.Message)
	}
	return "", false
}

// UserNamespaceStatus is status.userNamespace for pod, which asked for a user namespace when
// requested: what it reported, or only requested while it has not reported.
func UserNamespaceStatus(pod *corev1.Pod, requested bool) *v1alpha1.UserNamespaceStatus {
	st := &v1alpha1.UserNamespaceStatus{Requested: requested}
	m, ok := UserNamespace(pod)
	if !ok {
		return st
	}
	st.Active = ptr.To(m.RootIsUnprivileged())
	if root, mapped := m.Outside(0); mapped {
		st.HostUID = ptr.To(int64(root))
	}
	st.UIDMap = clip(m.String(), 4096)
	return st
}

// NoUserNamespaceMessage explains a build pod that asked for a user namespace and ran without one:
// where the request was lost, what that means, and what to do.
func NoUserNamespaceMessage(pod *corev1.Pod, m userns.Mapping) string {
	node := pod.Spec.NodeName
	if node == "" {
		node = "its node"
	} else {
		node = "node " + node
	}
	const optOut = "; or, to build without user namespaces knowingly, run the manager with --user-namespaces=false (Helm value userNamespaces: false)"
	if pod.Spec.HostUsers == nil {
		return finalMessage(fmt.Sprintf(
			"build pod %s asked for a user namespace (hostUsers: false), but the API server dropped the field, so it ran on %s without one: root in the build was root on the node (uid_map %s). "+
				"Turn on the API server's and kubelets' UserNamespacesSupport feature gate (on by default since Kubernetes 1.33)%s",
			pod.Name, node, m, optOut))
	}
	return finalMessage(fmt.Sprintf(
		"build pod %s asked for a user namespace (hostUsers: false), but %s ran it without one: root in the build was root on the node (uid_map %s). "+
			"The node's kubelet or container runtime ignores hostUsers: user namespaces need Kubernetes 1.33 or later (or its UserNamespacesSupport feature gate), "+
			"containerd 2.0 or CRI-O 1.25 or later, runc 1.2 or crun 1.9 or later, and Linux 6.3 or later; upgrade the node%s",
		pod.Name, node, m, optOut))
}

// Output is the status.output of a build of ib that pushed the image with digest (Result.Digest):
// the primary tag, the digest, and the reference by digest that deployments pin. With an empty
// digest only the image and tags are known.
func Output(ib *v1alpha1.ImageBuild, digest string) *v1alpha1.BuildOutput {
	out := &v1alpha1.BuildOutput{
		Image: ib.Spec.Image + ":" + ib.Spec.Tags[0],
		Tags:  append([]string(nil), ib.Spec.Tags...),
	}
	if ValidDigest(digest) {
		out.Digest = digest
		out.ShortDigest = digest[len("sha256:") : len("sha256:")+12]
		out.ImageRef = ib.Spec.Image + "@" + digest
	}
	return out
}
