package buildpod

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/userns"
)

const (
	podUIDMap  = "0 3497590784 65536"
	nodeUIDMap = "0 0 4294967295"
)

func gitSource(ib *v1alpha1.ImageBuild) {
	ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git"}}
}

// reported is pod after its first init container finished with message.
func reported(pod *corev1.Pod, exitCode int32, message string) *corev1.Pod {
	pod = pod.DeepCopy()
	pod.Spec.NodeName = "node-7"
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{
		Name:  pod.Spec.InitContainers[0].Name,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Message: message}},
	}}
	return pod
}

func TestBuildHostUsers(t *testing.T) {
	for _, source := range []func(*v1alpha1.ImageBuild){nil, gitSource} {
		on := basePod(t, source)
		if on.Spec.HostUsers == nil || *on.Spec.HostUsers {
			t.Errorf("default: hostUsers = %v, want false", on.Spec.HostUsers)
		}
		ib := newBuild()
		if source != nil {
			source(ib)
		}
		off, err := Build(ib, 1, Options{FetcherImage: "f:1", HostUsers: true})
		if err != nil {
			t.Fatal(err)
		}
		if off.Spec.HostUsers != nil {
			t.Errorf("HostUsers option: hostUsers = %v, want unset (the node's user namespace)", *off.Spec.HostUsers)
		}
		// The report is made either way: a cluster that turned user namespaces off still learns
		// that its builds run as root on the node.
		if len(off.Spec.InitContainers) == 0 || off.Spec.InitContainers[0].Image != "f:1" {
			t.Errorf("without user namespaces the pod has no reporting init container: %+v", off.Spec.InitContainers)
		}
	}
}

func TestUserNamespaceStatus(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		active   *bool
		hostUID  *int64
		uidMap   string
		reported bool
	}{
		{"bundle build, user namespace", reported(basePod(t, nil), 0, "uid_map: "+podUIDMap+"\n"), ptr.To(true), ptr.To[int64](3497590784), podUIDMap, true},
		{"git build, user namespace", reported(basePod(t, gitSource), 0, "uid_map: "+podUIDMap+"\n"), ptr.To(true), ptr.To[int64](3497590784), podUIDMap, true},
		{"runtime ignored hostUsers", reported(basePod(t, nil), 0, "uid_map: "+nodeUIDMap), ptr.To(false), ptr.To[int64](0), nodeUIDMap, true},
		{"fetch failed after the report", reported(basePod(t, nil), 1, "uid_map: "+podUIDMap+"\nfetching source bundle x: MANIFEST_UNKNOWN"), ptr.To(true), ptr.To[int64](3497590784), podUIDMap, true},
		{"not finished", basePod(t, nil), nil, nil, "", false},
		{"older fetcher without a report", reported(basePod(t, nil), 0, ""), nil, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := UserNamespace(tt.pod)
			if ok != tt.reported {
				t.Errorf("UserNamespace reported = %v, want %v", ok, tt.reported)
			}
			st := UserNamespaceStatus(tt.pod, true)
			if !st.Requested {
				t.Errorf("requested lost")
			}
			if !equalPtr(st.Active, tt.active) || !equalPtr(st.HostUID, tt.hostUID) || st.UIDMap != tt.uidMap {
				t.Errorf("status = active %v hostUID %v uidMap %q; want %v %v %q",
					deref(st.Active), deref(st.HostUID), st.UIDMap, deref(tt.active), deref(tt.hostUID), tt.uidMap)
			}
		})
	}
}

func equalPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref[T any](p *T) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestNoUserNamespaceMessage(t *testing.T) {
	m, _ := userns.Parse(nodeUIDMap)
	ignored := basePod(t, nil)
	ignored.Spec.NodeName = "node-7"
	dropped := ignored.DeepCopy()
	dropped.Spec.HostUsers = nil // what an API server with the feature gate off stores
	for _, tt := range []struct {
		pod  *corev1.Pod
		want []string
	}{
		{ignored, []string{"node node-7 ran it without one", "root in the build was root on the node", "uid_map 0 0 4294967295", "containerd 2.0", "runc 1.2", "--user-namespaces=false", "userNamespaces: false"}},
		{dropped, []string{"the API server dropped the field", "UserNamespacesSupport", "--user-namespaces=false"}},
	} {
		msg := NoUserNamespaceMessage(tt.pod, m)
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("message lacks %q:\n%s", w, msg)
			}
		}
		assertMessage(t, msg)
	}
}

// The limits a user namespace sets on a build, with Kaniko's own texts: each must say that the user
// namespace is the cause and how to lift it, and only for builds that ran in one.
func TestInterpretUserNamespaceLimits(t *testing.T) {
	const runPrelude = buildPrelude +
		"\x1b[36mINFO\x1b[0m[0001] RUN %s \n" +
		"\x1b[36mINFO\x1b[0m[0001] Initializing snapshotter ...                 \n" +
		"\x1b[36mINFO\x1b[0m[0001] Taking snapshot of full filesystem...        \n" +
		"\x1b[36mINFO\x1b[0m[0001] Cmd: /bin/sh                                 \n" +
		"\x1b[36mINFO\x1b[0m[0001] Running: [/bin/sh -c %s]     \n"
	run := func(cmd, output string) string {
		return strings.ReplaceAll(runPrelude, "%s", cmd) + output + "\n" +
			"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1\n"
	}
	tests := []struct {
		name    string
		message string
		want    []string // in a user namespace
		without []string // must not appear without one
	}{
		{
			name:    "base image file owned by an unmapped ID",
			message: buildPrelude + "error building image: error building stage: failed to get filesystem from image: chown /big: invalid argument\n",
			want:    []string{"base image 127.0.0.1:5443/base:latest", "chown /big: invalid argument", "maps IDs 0 to 65535 only", "userNamespaces.idsPerPod", "--user-namespaces=false"},
			without: []string{"idsPerPod", "user namespace"},
		},
		{
			name:    "mknod in a RUN step",
			message: run("mknod /dev/null2 c 1 3", "mknod: /dev/null2: Operation not permitted"),
			want:    []string{`Dockerfile step "RUN mknod /dev/null2 c 1 3" failed with exit status 1`, "creating device files (mknod) is never allowed", "--user-namespaces=false"},
			without: []string{"user namespace"},
		},
		{
			name:    "chown to an unmapped ID in a RUN step",
			message: run("chown 70000 /srv", "chown: /srv: Invalid argument"),
			want:    []string{"an owner the build pod's user namespace does not map", "maps IDs 0 to 65535 only", "idsPerPod"},
			without: []string{"user namespace"},
		},
		{
			name:    "other refused operation",
			message: run("mount -t tmpfs none /mnt", "mount: permission denied (are you root?)\nmount: mounting none on /mnt failed: Operation not permitted"),
			want:    []string{"root may not touch the node", "--user-namespaces=false"},
			without: []string{"user namespace"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := finished(basePod(t, nil), 1, "", tt.message)
			pod.Status.InitContainerStatuses[0].State.Terminated.Message = "uid_map: " + podUIDMap
			got := Interpret(pod)
			if got.Reason != v1alpha1.ReasonBuildFailed {
				t.Errorf("reason %s, want BuildFailed", got.Reason)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, got.Message)
				}
			}
			assertMessage(t, got.Message)

			// The same text from a pod on the node's own namespace is not blamed on one.
			pod.Spec.HostUsers = nil
			pod.Status.InitContainerStatuses[0].State.Terminated.Message = "uid_map: " + nodeUIDMap
			plain := Interpret(pod)
			for _, w := range tt.without {
				if strings.Contains(plain.Message, w) {
					t.Errorf("without a user namespace the message mentions %q:\n%s", w, plain.Message)
				}
			}
		})
	}
}

// The Pod Security levels, evaluated by the admission plugin's own library on the pods Build and
// BuildPlatform make: "baseline" admits every build pod, with or without a user namespace;
// "restricted" refuses the Kaniko container for its capabilities and privilege escalation even in a
// user namespace, where it does allow root, and refuses root (Kaniko's, and the push container's of
// a platform pod) only without one. README's trust model section states exactly this.
func TestPodSecurityLevels(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := func(pod *corev1.Pod, level api.Level) []string {
		var reasons []string
		for _, r := range evaluator.EvaluatePod(api.LevelVersion{Level: level, Version: api.LatestVersion()}, &pod.ObjectMeta, &pod.Spec) {
			if !r.Allowed {
				reasons = append(reasons, r.ForbiddenReason+" ("+r.ForbiddenDetail+")")
			}
		}
		return reasons
	}
	single := func(ib *v1alpha1.ImageBuild, opts Options) (*corev1.Pod, error) { return Build(ib, 1, opts) }
	arm64 := func(ib *v1alpha1.ImageBuild, opts Options) (*corev1.Pod, error) {
		return BuildPlatform(ib, Placement{Platform: mustPlatform(t, "linux/arm64")}, 1, opts)
	}
	kanikoRefused := []string{"allowPrivilegeEscalation != false", "unrestricted capabilities"}
	rootRefused := []string{"runAsNonRoot != true", "runAsUser=0"}
	for _, tt := range []struct {
		name      string
		git       bool
		build     func(*v1alpha1.ImageBuild, Options) (*corev1.Pod, error)
		hostUsers bool
		root      []string // containers refused for running as root without a user namespace
	}{
		{"bundle, user namespace", false, single, false, nil},
		{"git, user namespace", true, single, false, nil},
		{"platform pod pushing by digest, user namespace", false, arm64, false, nil},
		{"git platform pod, user namespace", true, arm64, false, nil},
		{"bundle, node's namespace", false, single, true, []string{KanikoContainer}},
		{"git, node's namespace", true, single, true, []string{KanikoContainer}},
		{"platform pod pushing by digest, node's namespace", false, arm64, true, []string{KanikoContainer, PushContainer}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ib := newBuild()
			ib.Spec.PushSecretRef = &v1alpha1.LocalSecretReference{Name: "regcred"}
			ib.Spec.ServiceAccountName = "builder"
			if tt.git {
				gitSource(ib)
			}
			opts := testOptions()
			opts.HostUsers = tt.hostUsers
			pod, err := tt.build(ib, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := forbidden(pod, api.LevelBaseline); len(got) > 0 {
				t.Errorf("baseline refuses the build pod: %v", got)
			}
			got := forbidden(pod, api.LevelRestricted)
			want := kanikoRefused
			if tt.hostUsers {
				want = append(slices.Clone(rootRefused), kanikoRefused...)
			}
			if len(got) != len(want) {
				t.Errorf("restricted refuses %v, want exactly %v", got, want)
			}
			for _, w := range want {
				i := slices.IndexFunc(got, func(r string) bool { return strings.HasPrefix(r, w) })
				if i < 0 {
					t.Errorf("restricted does not refuse %q; it refuses %v", w, got)
					continue
				}
				// Only the containers that may need more than restricted are named (the library
				// names some of them per check, not always all).
				allowed := []string{KanikoContainer}
				if slices.Contains(rootRefused, w) {
					allowed = tt.root
				}
				named := 0
				for _, c := range []string{KanikoContainer, FetchContainer, ProbeContainer, PushContainer} {
					if strings.Contains(got[i], `"`+c+`"`) {
						named++
						if !slices.Contains(allowed, c) {
							t.Errorf("restricted's %q names container %s: only %v may need more than restricted (%s)", w, c, allowed, got[i])
						}
					}
				}
				if named == 0 {
					t.Errorf("restricted's %q names no container: %s", w, got[i])
				}
			}
		})
	}
}
