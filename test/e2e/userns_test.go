//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/userns"
)

// Build pods run in user namespaces by default. Proven from three sides of one build, none taking
// another's word: the node's /proc shows the Kaniko process owned by an unprivileged UID while a RUN
// step runs; the image the build pushed holds the UID mapping that RUN step read; and the status
// holds the mapping the pod's init container reported. All three must agree. The namespace enforces
// the Pod Security level "baseline", which the build pod must pass.
func TestE2E_UserNamespace(t *testing.T) {
	ns := namespace(t, "pod-security.kubernetes.io/enforce", "baseline")
	dir := project(t, baseFrom+"RUN cat /proc/self/uid_map > /uid_map && sleep 8\n")
	r := flow(t, dir, registryEnv("userns-"+runID), "build", "--push", "--no-wait", "--tag", "u1", "--namespace", ns, "prod")
	if r.code != 0 {
		t.Fatalf("flow build exited %d", r.code)
	}

	// The RUN step sleeps; meanwhile the node's own view of the Kaniko container's processes.
	var kaniko corev1.Pod
	waitBuild(t, ns, 2*time.Minute, "Kaniko to run the RUN step", func(*buildv1.ImageBuild) bool {
		for _, p := range buildPods(t, ns) {
			if p.Status.Phase == corev1.PodRunning && strings.Contains(kanikoLog(t, ns, p.Name), "Running: [/bin/sh -c cat /proc/self/uid_map") {
				kaniko = p
				return true
			}
		}
		return false
	})
	procs := containerProcesses(t, kaniko, "kaniko")
	var executorUID uint32
	for _, p := range procs {
		t.Logf("host pid %d %s: real/effective UID %d/%d, uid_map %q", p.pid, p.comm, p.uid, p.euid, p.uidMap)
		if p.uid == 0 || p.euid == 0 || p.uid < 65536 {
			t.Errorf("process %d (%s) of the kaniko container runs as UID %d (effective %d) on the node, want an unprivileged UID above 65535", p.pid, p.comm, p.uid, p.euid)
		}
		if p.comm == "executor" {
			executorUID = p.uid
		}
	}
	if executorUID == 0 {
		t.Fatalf("no executor process among the kaniko container's processes: %+v", procs)
	}

	ib := waitBuild(t, ns, 3*time.Minute, "the build to finish", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	if ib.Status.Phase != buildv1.PhaseSucceeded {
		t.Fatalf("phase %s: %+v", ib.Status.Phase, readyCondition(ib))
	}

	// What the RUN step read, as pushed in the image.
	inImage := imageFile(t, ib.Status.Output.ImageRef, "uid_map")
	t.Logf("/uid_map in %s: %q", ib.Status.Output.ImageRef, inImage)
	imageMap, err := userns.Parse(inImage)
	if err != nil {
		t.Fatalf("the image's /uid_map: %v", err)
	}
	if imageMap.Identity() || !imageMap.RootIsUnprivileged() {
		t.Errorf("the RUN step ran without a user namespace: uid_map %q", inImage)
	}
	if root, _ := imageMap.Outside(0); root != executorUID {
		t.Errorf("the RUN step's root is UID %d on the node, but the node shows the executor as UID %d", root, executorUID)
	}

	// What the status says, from the init container's report.
	un := ib.Status.UserNamespace
	if un == nil || !un.Requested || un.Active == nil || !*un.Active || un.HostUID == nil {
		t.Fatalf("status.userNamespace = %+v, want requested and active", un)
	}
	if *un.HostUID != int64(executorUID) || un.UIDMap != imageMap.String() {
		t.Errorf("status.userNamespace says hostUID %d uidMap %q; the node and the image say %d and %q", *un.HostUID, un.UIDMap, executorUID, imageMap.String())
	}
	if out := kubectl(t, "get", "imagebuild", "--namespace", ns, ib.Name, "-o", "wide"); !strings.Contains(out, "USERNS") || !strings.Contains(out, "true") {
		t.Errorf("kubectl get -o wide does not show the user namespace:\n%s", out)
	}
	for _, ev := range imageBuildEvents(t, ns) {
		if ev.Reason == buildv1.ReasonNoUserNamespace {
			t.Errorf("a NoUserNamespace warning for a build that got one: %s", ev.Note)
		}
	}
	t.Logf("USERNS kaniko executor host UID %d; image /uid_map %q; status.userNamespace %q", executorUID, strings.TrimSpace(inImage), un.UIDMap)
}

// A git build has no source to fetch, so its pod's init container only reports the user namespace
// (userns-probe). The repository here refuses connections: Kaniko fails to clone, and the status
// still says what the pod got.
func TestE2E_UserNamespaceGitSource(t *testing.T) {
	ns := namespace(t)
	host, _, _ := strings.Cut(registry, ":")
	ib := &buildv1.ImageBuild{
		ObjectMeta: metav1.ObjectMeta{Name: "git-probe", Namespace: ns},
		Spec: buildv1.ImageBuildSpec{
			Image: registry + "/git-probe-" + runID, Tags: []string{"v1"}, Push: false,
			// Port 1 of the node: nothing listens there.
			Source: buildv1.BuildSource{Git: &buildv1.GitSource{URL: "http://" + host + ":1/none.git"}},
		},
	}
	if err := k8s.Create(context.Background(), ib); err != nil {
		t.Fatal(err)
	}
	ib = waitBuild(t, ns, 2*time.Minute, "the git build to fail", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
	if c := readyCondition(ib); c.Reason != buildv1.ReasonSourceFetchFailed {
		t.Errorf("reason %s (%s), want SourceFetchFailed", c.Reason, c.Message)
	}
	pods := buildPods(t, ns)
	if len(pods) != 1 || len(pods[0].Spec.InitContainers) != 1 || pods[0].Spec.InitContainers[0].Name != "userns-probe" {
		t.Fatalf("the git build pod's init containers: %+v", pods)
	}
	un := ib.Status.UserNamespace
	if un == nil || un.Active == nil || !*un.Active || un.HostUID == nil || *un.HostUID < 65536 {
		t.Fatalf("status.userNamespace = %+v, want active with an unprivileged host UID", un)
	}
	t.Logf("USERNS git build: userns-probe reported uid_map %q", un.UIDMap)
}

// What a user namespace does not allow, met by real builds: a base image file owned by a UID beyond
// the 65,536 the pod maps, and a RUN step creating a device file. Each fails with a message that
// names the user namespace as the cause and how to lift it.
func TestE2E_UserNamespaceLimits(t *testing.T) {
	bigOwner := pushImageWithFile(t, "userns-base-"+runID, "big", 100000)
	tests := []struct {
		name       string
		dockerfile string
		env        []string
		want       []string
	}{
		{
			name:       "base image file owned by UID 100000",
			dockerfile: baseFrom + "RUN true\n",
			env:        []string{"FLOW_BASE_IMAGE=" + bigOwner},
			want:       []string{"chown /big: invalid argument", "does not map", "maps IDs 0 to 65535 only", "userNamespaces.idsPerPod", "userNamespaces: false"},
		},
		{
			name:       "mknod in a RUN step",
			dockerfile: baseFrom + "RUN mknod /tmp/null c 1 3\n",
			want:       []string{`"RUN mknod /tmp/null c 1 3"`, "creating device files (mknod) is never allowed", "userNamespaces: false"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			env := append(registryEnv(fmt.Sprintf("limits%d-%s", i, runID)), tt.env...)
			r := flow(t, project(t, tt.dockerfile), env, "build", "--push", "--namespace", ns, "prod")
			if r.code != 1 {
				t.Errorf("flow build exited %d, want 1", r.code)
			}
			ib := waitBuild(t, ns, time.Minute, "the failed build", func(ib *buildv1.ImageBuild) bool { return ib.Status.Phase.Finished() })
			c := readyCondition(ib)
			t.Logf("%s: %s", c.Reason, c.Message)
			if ib.Status.Phase != buildv1.PhaseFailed || c.Reason != buildv1.ReasonBuildFailed {
				t.Errorf("phase %s reason %s, want Failed/BuildFailed", ib.Status.Phase, c.Reason)
			}
			for _, w := range tt.want {
				if !strings.Contains(c.Message, w) {
					t.Errorf("message lacks %q", w)
				}
			}
		})
	}
}

type hostProcess struct {
	pid       int
	comm      string
	uid, euid uint32
	uidMap    string
}

// containerProcesses finds the node's processes of a running container, by its ID in their cgroup
// paths, and reads their owners as the node sees them.
func containerProcesses(t *testing.T, pod corev1.Pod, container string) []hostProcess {
	t.Helper()
	var id string
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == container {
			_, id, _ = strings.Cut(s.ContainerID, "://")
		}
	}
	if id == "" {
		// The status in hand may predate the container's start.
		fresh, err := clientset.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range fresh.Status.ContainerStatuses {
			if s.Name == container {
				_, id, _ = strings.Cut(s.ContainerID, "://")
			}
		}
	}
	if id == "" {
		t.Fatalf("container %s of pod %s has no container ID", container, pod.Name)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []hostProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		cgroup, err := os.ReadFile(filepath.Join(dir, "cgroup"))
		if err != nil || !bytes.Contains(cgroup, []byte(id)) {
			continue
		}
		p := hostProcess{pid: pid}
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		p.comm = strings.TrimSpace(string(comm))
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			continue // exited meanwhile
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				f := strings.Fields(rest)
				if len(f) >= 2 {
					u, _ := strconv.ParseUint(f[0], 10, 32)
					eu, _ := strconv.ParseUint(f[1], 10, 32)
					p.uid, p.euid = uint32(u), uint32(eu)
				}
			}
		}
		m, _ := os.ReadFile(filepath.Join(dir, "uid_map"))
		p.uidMap = strings.Join(strings.Fields(string(m)), " ")
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatalf("no process on this node is in a cgroup of container %s (%s)", container, id)
	}
	return out
}

// imageFile reads one file of an image in the registry, from its flattened filesystem.
func imageFile(t *testing.T, ref, path string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithAuth(regAuth), remote.WithTransport(regTLS))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	fs := mutate.Extract(img)
	defer func() { _ = fs.Close() }()
	tr := tar.NewReader(fs)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s has no /%s", ref, path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "/") == path {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

// pushImageWithFile pushes the e2e base image plus a layer holding /file owned by uid:uid, and
// returns its reference by digest.
func pushImageWithFile(t *testing.T, repo, file string, uid int) string {
	t.Helper()
	base, err := name.ParseReference(os.Getenv("FLOW_BASE_IMAGE"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(base, remote.WithAuth(regAuth), remote.WithTransport(regTLS))
	if err != nil {
		t.Fatalf("pulling the base image: %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	content := []byte("owned by a UID no user namespace of 65,536 IDs maps\n")
	if err := tw.WriteHeader(&tar.Header{Name: file, Mode: 0o644, Size: int64(len(content)), Uid: uid, Gid: uid, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.ParseReference(registry + "/" + repo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img, remote.WithAuth(regAuth), remote.WithTransport(regTLS)); err != nil {
		t.Fatalf("pushing %s: %v", dst, err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return dst.Context().Digest(digest.String()).String()
}
