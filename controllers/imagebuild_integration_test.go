package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/manager"
	"github.com/fleetflow/flow-build/internal/testing/poll"
)

var digest = "sha256:" + strings.Repeat("0123456789abcdef", 4)

func TestIntegration_BuildSucceeds(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ib := e.build("api", func(ib *buildv1.ImageBuild) {
		ib.Spec.Tags = []string{"v1.2.0", "latest"}
		ib.Spec.Target = "production"
		ib.Spec.BuildArgs = []buildv1.BuildArg{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}
	})
	e.create(ib)

	ib = e.waitPhase("api", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)

	// The pod has the shape every build pod must have: owned by its build, never restarted, the
	// deadline of spec.timeout, the bundle fetched by an init container, Kaniko's flags in order.
	if !metav1.IsControlledBy(pod, ib) {
		t.Errorf("pod %s is not controlled by the ImageBuild: %v", pod.Name, pod.OwnerReferences)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %s, want Never", pod.Spec.RestartPolicy)
	}
	if got := ptr.Deref(pod.Spec.ActiveDeadlineSeconds, 0); got != 1800 {
		t.Errorf("activeDeadlineSeconds = %d, want 1800 (the 30m default timeout)", got)
	}
	if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Image != e.opts.FetcherImage {
		t.Errorf("init containers = %+v, want one fetch-source container running %s", pod.Spec.InitContainers, e.opts.FetcherImage)
	}
	args := strings.Join(pod.Spec.Containers[0].Args, " ")
	for _, want := range []string{
		"--destination=registry.test/team/api:v1.2.0", "--destination=registry.test/team/api:latest",
		"--digest-file=/dev/termination-log", "--target=production", "--build-arg=A=1 --build-arg=B=2",
		"--cache=true", "--cache-repo=registry.test/team/api/cache",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("kaniko args %q lack %q", args, want)
		}
	}
	if pod.Labels[buildv1.LabelService] != "api" {
		t.Errorf("pod labels %v lack the service label", pod.Labels)
	}

	k := kubelet{t}
	k.running(pod)
	k.kanikoExited(pod, 0, digest+"\n", "Completed")

	ib = e.waitPhase("api", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	out := ib.Status.Output
	if out == nil || out.Digest != digest || out.ImageRef != "registry.test/team/api@"+digest ||
		out.Image != "registry.test/team/api:v1.2.0" || out.ShortDigest != digest[7:19] {
		t.Errorf("status.output = %+v", out)
	}
	if ib.Status.CompletionTime == nil || ib.Status.StartTime == nil {
		t.Errorf("start/completion time not set: %+v", ib.Status)
	}
	assertConditions(t, ib, metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionFalse)
	if ib.Status.Source == nil || ib.Status.Source.BundleDigest != "sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("status.source = %+v", ib.Status.Source)
	}
	e.waitEvent("api", buildv1.ReasonSucceeded)

	// A resync (or any other update that leaves the spec alone) never rebuilds.
	ib.Labels["touched"] = "yes"
	genBefore := ib.Generation
	if err := k8s.Update(context.Background(), ib); err != nil {
		t.Fatal(err)
	}
	if ib.Generation != genBefore {
		// A Go client's read-modify-write must round-trip the spec exactly (defaults included),
		// or every such update would rebuild the image.
		t.Errorf("a metadata-only update moved the generation from %d to %d", genBefore, ib.Generation)
	}
	poll.Consistently(t, 500*time.Millisecond, "one pod after a metadata-only change", e.podCount(1))
}

func TestIntegration_FailureReasons(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	k := kubelet{t}
	cases := []struct {
		name     string
		finish   func(pod *corev1.Pod)
		reason   string
		mentions []string
		// tail is status.failureLog.tail; envtest serves no pod logs, so it comes from the
		// termination message.
		tail []string
	}{
		{
			name: "auth",
			finish: func(pod *corev1.Pod) {
				k.kanikoExited(pod, 1, "INFO[0000] Retrieving image manifest registry.test/base:latest\n"+
					`error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for "registry.test/team/auth:v1.2.0": POST https://registry.test/v2/team/auth/blobs/uploads/: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:team/auth Type:repository] map[Action:push Class: Name:team/auth Type:repository]]`, "Error")
			},
			reason:   buildv1.ReasonAuthenticationFailed,
			mentions: []string{"registry.test", "kubectl create secret docker-registry"},
		},
		{
			name: "run",
			finish: func(pod *corev1.Pod) {
				k.kanikoExited(pod, 3, "INFO[0001] RUN exit 3\nINFO[0001] Cmd: /bin/sh\n"+
					"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3", "Error")
			},
			reason:   buildv1.ReasonBuildFailed,
			mentions: []string{"RUN exit 3"},
			tail:     []string{"RUN exit 3", "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3"},
		},
		{
			name:     "oom",
			finish:   func(pod *corev1.Pod) { k.kanikoExited(pod, 137, "", "OOMKilled") },
			reason:   buildv1.ReasonOOMKilled,
			mentions: []string{"memory"},
		},
		{
			name: "timeout",
			finish: func(pod *corev1.Pod) {
				k.update(pod, func(s *corev1.PodStatus) {
					s.Phase = corev1.PodFailed
					s.Reason = "DeadlineExceeded"
					s.Message = "Pod was active on the node longer than the specified deadline"
				})
			},
			reason:   buildv1.ReasonTimeout,
			mentions: []string{"timeout"},
		},
		{
			name: "fetch",
			finish: func(pod *corev1.Pod) {
				k.update(pod, func(s *corev1.PodStatus) {
					s.Phase = corev1.PodFailed
					s.InitContainerStatuses = terminatedStatuses(pod.Spec.InitContainers, 1,
						"fetching source bundle registry.test/team/fetch@sha256:abab: MANIFEST_UNKNOWN: manifest unknown", "Error")
				})
			},
			reason:   buildv1.ReasonSourceFetchFailed,
			mentions: []string{"MANIFEST_UNKNOWN"},
		},
		{
			name: "push",
			finish: func(pod *corev1.Pod) {
				// Kaniko writes the digest file before it pushes: a digest with a failed exit is no success.
				k.kanikoExited(pod, 1, digest+"\nerror pushing image: failed to push to destination registry.test/team/push:v1.2.0: "+
					`Get "https://registry.test/v2/": dial tcp 10.0.0.9:443: connect: connection refused`, "Error")
			},
			reason:   buildv1.ReasonPushFailed,
			mentions: []string{"registry.test"},
		},
	}
	for _, tc := range cases {
		e.create(e.build(tc.name, nil))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ib := e.waitPhase(tc.name, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
			tc.finish(e.waitPod(ib.Status.PodName))
			ib = e.waitPhase(tc.name, buildv1.PhaseFailed, tc.reason)
			msg := readyCondition(ib).Message
			for _, m := range tc.mentions {
				if !strings.Contains(strings.ToLower(msg), strings.ToLower(m)) {
					t.Errorf("Ready message %q does not mention %q", msg, m)
				}
			}
			if ib.Status.Output != nil {
				t.Errorf("a failed build has an output: %+v", ib.Status.Output)
			}
			if tc.tail != nil {
				if fl := ib.Status.FailureLog; fl == nil || fl.Pod != ib.Status.PodName || !slices.Equal(fl.Tail, tc.tail) {
					t.Errorf("status.failureLog = %+v, want the tail %q of pod %s", fl, tc.tail, ib.Status.PodName)
				}
			}
			if tc.name == "oom" && ib.Status.FailureLog != nil {
				t.Errorf("status.failureLog = %+v for a Kaniko that left no output", ib.Status.FailureLog)
			}
			assertConditions(t, ib, metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue)
			e.waitEvent(tc.name, tc.reason)
		})
	}
}

func TestIntegration_NewGenerationBuildsOnceMore(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.create(e.build("gen", nil))
	ib := e.waitPhase("gen", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	first := ib.Status.PodName
	kubelet{t}.kanikoExited(e.waitPod(first), 0, digest, "Completed")
	ib = e.waitPhase("gen", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)

	ib.Spec.Tags = []string{"v1.3.0"}
	if err := k8s.Update(context.Background(), ib); err != nil {
		t.Fatal(err)
	}
	ib = e.waitPhase("gen", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	if ib.Status.PodName == first {
		t.Fatalf("generation 2 reuses pod %s", first)
	}
	if ib.Status.Output != nil {
		t.Errorf("the new generation still shows the old output %+v", ib.Status.Output)
	}
	// Give a buggy controller the chance to create more pods.
	poll.Consistently(t, time.Second, "exactly 2 pods after one spec change (one per generation)", e.podCount(2))
	second := e.waitPod(ib.Status.PodName)
	if !slices.Contains(second.Spec.Containers[0].Args, "--destination=registry.test/team/gen:v1.3.0") {
		t.Errorf("generation 2 pod args %v lack the new tag", second.Spec.Containers[0].Args)
	}
}

func TestIntegration_ManagerRestartMidBuild(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.create(e.build("restart", nil))
	ib := e.waitPhase("restart", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)
	kubelet{t}.running(pod)

	e.stopManager()
	e.startManager()
	// The new manager syncs and reconciles everything once.
	poll.Consistently(t, time.Second, "one pod after a manager restart", e.podCount(1))
	kubelet{t}.kanikoExited(pod, 0, digest, "Completed")
	ib = e.waitPhase("restart", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	if ib.Status.Attempts != 1 || ib.Status.Output.Digest != digest {
		t.Errorf("after restart: attempts %d output %+v", ib.Status.Attempts, ib.Status.Output)
	}
}

func TestIntegration_LostPodIsRetriedThenPodLost(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *manager.Options) { o.MaxAttempts = 2 })
	e.create(e.build("lost", nil))
	ib := e.waitPhase("lost", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	first := ib.Status.PodName
	e.deletePod(first)

	poll.Eventually(t, 45*time.Second, "a second attempt", func() (bool, string) {
		ib = e.get("lost")
		return ib.Status.Attempts == 2 && ib.Status.PodName != first, fmt.Sprintf("attempts %d pod %s", ib.Status.Attempts, ib.Status.PodName)
	})
	second := ib.Status.PodName
	e.waitPod(second)
	// An eviction is a lost pod too.
	kubelet{t}.update(e.waitPod(second), func(s *corev1.PodStatus) {
		s.Phase = corev1.PodFailed
		s.Reason = "Evicted"
		s.Message = "The node was low on resource: memory."
	})
	ib = e.waitPhase("lost", buildv1.PhaseFailed, buildv1.ReasonPodLost)
	if !strings.Contains(readyCondition(ib).Message, "2 attempts") {
		t.Errorf("PodLost message %q does not say how often it tried", readyCondition(ib).Message)
	}
}

func TestIntegration_SecretNotFoundThenAppears(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.create(e.build("sec", func(ib *buildv1.ImageBuild) {
		ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: "regcred"}
	}))
	ib := e.waitPhase("sec", buildv1.PhasePending, buildv1.ReasonSecretNotFound)
	assertConditions(t, ib, metav1.ConditionFalse, metav1.ConditionFalse, metav1.ConditionTrue)
	if msg := readyCondition(ib).Message; !strings.Contains(msg, "kubectl create secret docker-registry regcred") {
		t.Errorf("SecretNotFound message %q does not say how to create it", msg)
	}
	if n := len(e.pods()); n != 0 {
		t.Fatalf("%d pods while the Secret is missing", n)
	}

	e.create(dockerConfigSecret(e.ns, "regcred", "canary-never-shown"))
	ib = e.waitPhase("sec", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)
	mounted := false
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "regcred" {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the pod does not mount Secret regcred: %+v", pod.Spec.Volumes)
	}
}

func TestIntegration_ConcurrencyCap(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(o *manager.Options) { o.MaxConcurrentBuilds = 1 })
	e.create(e.build("first", nil))
	ib := e.waitPhase("first", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	e.waitPod(ib.Status.PodName)
	e.create(e.build("second", nil))
	e.waitPhase("second", buildv1.PhasePending, buildv1.ReasonPending)
	poll.Consistently(t, time.Second, "one build pod with a cap of 1", e.podCount(1))
	kubelet{t}.kanikoExited(e.waitPod(ib.Status.PodName), 0, digest, "Completed")
	e.waitPhase("first", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	e.waitPhase("second", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
}

func TestIntegration_TTLDeletesFinishedBuilds(t *testing.T) {
	t.Parallel()
	const ttl = 3
	e := newTestEnv(t, nil)
	e.create(e.build("ttl", func(ib *buildv1.ImageBuild) { ib.Spec.TTLSecondsAfterFinished = ptr.To[int32](ttl) }))
	e.create(e.build("keep", nil))
	for _, name := range []string{"ttl", "keep"} {
		ib := e.waitPhase(name, buildv1.PhaseBuilding, buildv1.ReasonBuilding)
		kubelet{t}.kanikoExited(e.waitPod(ib.Status.PodName), 0, digest, "Completed")
	}
	e.waitPhase("keep", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)

	// Watch the ttl build finish and then disappear; it must not go before its TTL has passed.
	var completed *metav1.Time
	poll.Eventually(t, 45*time.Second, "the ttl build to be deleted", func() (bool, string) {
		ib := &buildv1.ImageBuild{}
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: e.ns, Name: "ttl"}, ib)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if ib.Status.CompletionTime != nil {
			completed = ib.Status.CompletionTime
		}
		return false, fmt.Sprintf("phase %s, get: %v", ib.Status.Phase, err)
	})
	if completed == nil {
		t.Fatal("the ttl build was deleted before anyone saw it finish")
	}
	// CompletionTime has one-second resolution.
	if early := completed.Add((ttl - 1) * time.Second); time.Now().Before(early) {
		t.Errorf("the ttl build was deleted before its TTL of %ds had passed (completed %s)", ttl, completed)
	}
	e.get("keep") // a build without TTL stays
}

func TestIntegration_EphemeralSecretDeletedAndNothingLeaks(t *testing.T) {
	t.Parallel()
	const canary = "Canary-Pa55word-7f3e9"
	e := newTestEnv(t, nil)
	ib := e.build("eph", func(ib *buildv1.ImageBuild) {
		ib.Spec.PushSecretRef = &buildv1.LocalSecretReference{Name: "eph-push"}
	})
	e.create(ib)
	secret := dockerConfigSecret(e.ns, "eph-push", canary)
	secret.Annotations = map[string]string{buildv1.AnnotationEphemeralSecret: "true"}
	secret.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: buildv1.GroupVersion.String(), Kind: "ImageBuild", Name: ib.Name, UID: ib.UID, Controller: ptr.To(true),
	}}
	e.create(secret)

	ib = e.waitPhase("eph", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)
	kubelet{t}.kanikoExited(pod, 1, `error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for "registry.test/team/eph:v1.2.0": POST https://registry.test/v2/team/eph/blobs/uploads/: UNAUTHORIZED: authentication required`, "Error")
	ib = e.waitPhase("eph", buildv1.PhaseFailed, buildv1.ReasonAuthenticationFailed)

	poll.Eventually(t, 30*time.Second, "the forwarded Secret to be deleted", func() (bool, string) {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(secret), &corev1.Secret{})
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
	})

	// The canary must not appear anywhere a person or a log shipper could see it.
	var seen []string
	podText := fmt.Sprintf("%+v", e.waitPod(ib.Status.PodName))
	statusText := fmt.Sprintf("%+v", ib.Status)
	events := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), events, client.InNamespace(e.ns)); err != nil {
		t.Fatal(err)
	}
	eventText := fmt.Sprintf("%+v", events.Items)
	for where, text := range map[string]string{"pod": podText, "status": statusText, "events": eventText, "logs": logBuffer.String()} {
		if strings.Contains(text, canary) {
			seen = append(seen, where)
		}
	}
	if len(seen) > 0 {
		t.Errorf("the registry password appears in: %v", seen)
	}
}

func TestIntegration_InvalidManifestsRejectedByAPIServer(t *testing.T) {
	t.Parallel()
	requireEnvtest(t)
	e := &testEnv{t: t, ns: "default"}
	cases := []struct {
		name   string
		tweak  func(*buildv1.ImageBuild)
		expect string
	}{
		{"image without registry", func(ib *buildv1.ImageBuild) { ib.Spec.Image = "myapp" }, "has no registry"},
		{"image with tag", func(ib *buildv1.ImageBuild) { ib.Spec.Image = "ghcr.io/org/app:v1" }, "must not contain a tag"},
		{"image with digest", func(ib *buildv1.ImageBuild) { ib.Spec.Image = "ghcr.io/org/app@sha256:" + strings.Repeat("a", 64) }, "must not contain a digest"},
		{"uppercase image", func(ib *buildv1.ImageBuild) { ib.Spec.Image = "ghcr.io/Org/App" }, "not a valid repository name"},
		{"no tags", func(ib *buildv1.ImageBuild) { ib.Spec.Tags = nil }, "spec.tags"},
		{"bad tag", func(ib *buildv1.ImageBuild) { ib.Spec.Tags = []string{"v1/2"} }, "spec.tags[0]"},
		{"tag starting with dot", func(ib *buildv1.ImageBuild) { ib.Spec.Tags = []string{".hidden"} }, "spec.tags[0]"},
		{"no source", func(ib *buildv1.ImageBuild) { ib.Spec.Source = buildv1.BuildSource{} }, "exactly one of bundle or git"},
		{"both sources", func(ib *buildv1.ImageBuild) {
			ib.Spec.Source.Git = &buildv1.GitSource{URL: "https://github.com/org/app.git"}
		}, "exactly one of bundle or git"},
		{"bundle by tag", func(ib *buildv1.ImageBuild) { ib.Spec.Source.Bundle.Image = "ghcr.io/org/app:src" }, "by digest"},
		{"git without url", func(ib *buildv1.ImageBuild) {
			ib.Spec.Source = buildv1.BuildSource{Git: &buildv1.GitSource{}}
		}, "spec.source.git.url"},
		{"git over ssh", func(ib *buildv1.ImageBuild) {
			ib.Spec.Source = buildv1.BuildSource{Git: &buildv1.GitSource{URL: "git@github.com:org/app.git"}}
		}, "http(s) URL"},
		{"dockerfile escaping", func(ib *buildv1.ImageBuild) { ib.Spec.Dockerfile = "../Dockerfile" }, "without '..'"},
		{"absolute dockerfile", func(ib *buildv1.ImageBuild) { ib.Spec.Dockerfile = "/etc/Dockerfile" }, "relative path"},
		{"bad build arg", func(ib *buildv1.ImageBuild) { ib.Spec.BuildArgs = []buildv1.BuildArg{{Name: "1BAD", Value: "x"}} }, "spec.buildArgs[0].name"},
		{"tiny timeout", func(ib *buildv1.ImageBuild) { ib.Spec.Timeout = &metav1.Duration{Duration: time.Second} }, "between 10s and 24h"},
		{"cache repo without push", func(ib *buildv1.ImageBuild) {
			ib.Spec.Push = false
			ib.Spec.Cache = &buildv1.CacheSpec{Repository: "ghcr.io/org/app/cache"}
		}, "needs spec.push"},
		{"negative ttl", func(ib *buildv1.ImageBuild) { ib.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1) }, "ttlSecondsAfterFinished"},
		{"platform without os", func(ib *buildv1.ImageBuild) { ib.Spec.Platforms = []string{"arm64"} }, "os/arch or os/arch/variant with os linux"},
		{"windows platform", func(ib *buildv1.ImageBuild) { ib.Spec.Platforms = []string{"windows/amd64"} }, "Kaniko builds Linux images"},
		{"uname spelling", func(ib *buildv1.ImageBuild) { ib.Spec.Platforms = []string{"linux/aarch64"} }, "such as linux/amd64, linux/arm64"},
		{"platform twice", func(ib *buildv1.ImageBuild) { ib.Spec.Platforms = []string{"linux/amd64", "linux/amd64"} }, "spec.platforms"},
		{"arm64 and arm64/v8", func(ib *buildv1.ImageBuild) {
			ib.Spec.Platforms = []string{"linux/arm64", "linux/amd64", "linux/arm64/v8"}
		}, "names the same platform twice"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ib := e.build(fmt.Sprintf("bad-%d", i), tc.tweak)
			err := k8s.Create(context.Background(), ib)
			if err == nil {
				_ = k8s.Delete(context.Background(), ib)
				t.Fatalf("the API server accepted %s", tc.name)
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.expect) {
				t.Errorf("error %q is not an Invalid error mentioning %q", err, tc.expect)
			}
		})
	}
	for i, platforms := range [][]string{{"linux/amd64"}, {"linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm/v6", "linux/riscv64"}} {
		ib := e.build(fmt.Sprintf("good-platforms-%d", i), func(ib *buildv1.ImageBuild) { ib.Spec.Platforms = platforms })
		if err := k8s.Create(context.Background(), ib); err != nil {
			t.Errorf("valid platforms %v rejected: %v", platforms, err)
		} else {
			_ = k8s.Delete(context.Background(), ib)
		}
	}
	// And the valid forms pass: Docker Hub namespace/name, a registry with a port, git.
	for i, image := range []string{"myuser/myapp", "localhost:5000/app", "registry.local:5000/team/app", "123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp"} {
		ib := e.build(fmt.Sprintf("good-%d", i), func(ib *buildv1.ImageBuild) { ib.Spec.Image = image })
		if err := k8s.Create(context.Background(), ib); err != nil {
			t.Errorf("valid image %q rejected: %v", image, err)
		} else {
			_ = k8s.Delete(context.Background(), ib)
		}
	}
}

func assertConditions(t *testing.T, ib *buildv1.ImageBuild, ready, reconciling, stalled metav1.ConditionStatus) {
	t.Helper()
	want := map[string]metav1.ConditionStatus{
		buildv1.ConditionReady: ready, buildv1.ConditionReconciling: reconciling, buildv1.ConditionStalled: stalled,
	}
	for _, c := range ib.Status.Conditions {
		if w, ok := want[c.Type]; ok {
			if c.Status != w {
				t.Errorf("condition %s = %s, want %s", c.Type, c.Status, w)
			}
			if c.ObservedGeneration != ib.Generation {
				t.Errorf("condition %s observedGeneration %d, want %d", c.Type, c.ObservedGeneration, ib.Generation)
			}
			delete(want, c.Type)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing conditions %v in %+v", want, ib.Status.Conditions)
	}
}

func (e *testEnv) waitEvent(name, reason string) {
	e.t.Helper()
	poll.Eventually(e.t, 30*time.Second, fmt.Sprintf("event %s on %s", reason, name), func() (bool, string) {
		list := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), list, client.InNamespace(e.ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range list.Items {
			if ev.Regarding.Name == name {
				if ev.Reason == reason {
					return true, ""
				}
				seen = append(seen, ev.Reason)
			}
		}
		return false, fmt.Sprintf("events so far: %v", seen)
	})
}

func (e *testEnv) deletePod(name string) {
	e.t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}}
	// envtest has no kubelet to confirm the deletion, so force it as a node controller would.
	if err := k8s.Delete(context.Background(), pod, client.GracePeriodSeconds(0)); err != nil {
		e.t.Fatal(err)
	}
}

func dockerConfigSecret(ns, name, password string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil,
			`{"auths":{"registry.test":{"username":"ci","password":%q}}}`, password)},
	}
}

func podNames(pods []corev1.Pod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

func TestIntegration_BuildWithoutPushHasNoOutput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.create(e.build("nopush", func(ib *buildv1.ImageBuild) { ib.Spec.Push = false }))
	ib := e.waitPhase("nopush", buildv1.PhaseBuilding, buildv1.ReasonBuilding)
	pod := e.waitPod(ib.Status.PodName)
	if !slices.Contains(pod.Spec.Containers[0].Args, "--no-push") {
		t.Errorf("kaniko args %v lack --no-push", pod.Spec.Containers[0].Args)
	}
	kubelet{t}.kanikoExited(pod, 0, digest, "Completed")
	ib = e.waitPhase("nopush", buildv1.PhaseSucceeded, buildv1.ReasonSucceeded)
	if ib.Status.Output != nil {
		t.Errorf("a build that pushed nothing reports an output: %+v", ib.Status.Output)
	}
	if !strings.Contains(readyCondition(ib).Message, "not pushed") {
		t.Errorf("Ready message %q does not say the image was not pushed", readyCondition(ib).Message)
	}
}
