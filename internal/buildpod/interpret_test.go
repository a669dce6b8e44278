package buildpod

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/fleetflow/flow-build/api/v1alpha1"
)

const (
	goodDigest = "sha256:4cd9a0a2f3b1e6c7d8e9f00112233445566778899aabbccddeeff00112233445"

	// pushCheckPrefix is the wrapper Kaniko puts around every push-permission failure.
	pushCheckPrefix = "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: "

	// buildPrelude is what Kaniko logs (color format, as in the pod log) before a stage runs.
	buildPrelude = "\x1b[36mINFO\x1b[0m[0000] Retrieving image manifest 127.0.0.1:5443/base:latest \n" +
		"\x1b[36mINFO\x1b[0m[0000] Retrieving image 127.0.0.1:5443/base:latest from registry 127.0.0.1:5443 \n" +
		"\x1b[36mINFO\x1b[0m[0000] Built cross stage deps: map[]                \n" +
		"\x1b[36mINFO\x1b[0m[0000] Executing 0 build triggers                   \n" +
		"\x1b[36mINFO\x1b[0m[0000] Building stage '127.0.0.1:5443/base:latest' [idx: '0', base-idx: '-1'] \n"
)

// usageTail is the end of cobra's usage text, which is all the kubelet keeps of the log when
// Kaniko fails before building.
const usageTail = `      --push-retry int                            Number of retries for the push operation
      --registry-certificate key-value-arg        Use the provided certificate for TLS communication with the given registry. Expected format is 'my.registry.url=/path/to/the/server/certificate'. (default map[])
      --registry-map key-value-arg                Registry map of mirror to use as pull-through cache instead. Expected format is 'orignal.registry=new.registry;other-original.registry=other-remap.registry' (default map[])
      --registry-mirror multi-key-value-arg       Registry mirror to use as pull-through cache instead of docker.io. Set it repeatedly for multiple mirrors.
      --reproducible                              Strip timestamps out of the image to make it reproducible
      --single-snapshot                           Take a single snapshot at the end of the build.
      --skip-default-registry-fallback            If an image is not found on any mirrors (defined with registry-mirror) do not fallback to the default registry. If registry-mirror is not defined, this flag is ignored.
      --skip-push-permission-check                Skip check of the push permission
      --skip-tls-verify                           Push to insecure registry ignoring TLS verify
      --snapshot-mode string                      Change the file attributes inspected during snapshotting (default "full")
      --tar-path string                           Path to save the image in as a tarball instead of pushing
      --target string                             Set the target build stage to build
      --use-new-run                               Use the experimental run implementation for detecting changes without requiring file system snapshots.
  -v, --verbosity string                          Log level (trace, debug, info, warn, error, fatal, panic) (default "info")
`

// basePod is the pod Build makes for the usual test build: bundle source, push Secret, 4Gi limit.
func basePod(t *testing.T, mutate func(ib *v1alpha1.ImageBuild)) *corev1.Pod {
	t.Helper()
	ib := newBuild()
	ib.Spec.Image = "127.0.0.1:5443/app"
	ib.Spec.Tags = []string{"bad"}
	ib.Spec.PushSecretRef = &v1alpha1.LocalSecretReference{Name: "regcred"}
	ib.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")}}
	if mutate != nil {
		mutate(ib)
	}
	pod, err := Build(ib, 1, testOptions())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return pod
}

// finished sets the status of a pod whose fetch-source container succeeded and whose kaniko
// container ended with exitCode and message.
func finished(pod *corev1.Pod, exitCode int32, reason, message string) *corev1.Pod {
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodFailed
	if exitCode == 0 {
		pod.Status.Phase = corev1.PodSucceeded
	}
	if reason == "" {
		reason = "Error"
		if exitCode == 0 {
			reason = "Completed"
		}
	}
	if len(pod.Spec.InitContainers) > 0 {
		pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{
			Name:  FetchContainer,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}},
		}}
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  KanikoContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Reason: reason, Message: message}},
	}}
	return pod
}

func TestInterpretKanikoErrors(t *testing.T) {
	withoutSecret := func(ib *v1alpha1.ImageBuild) { ib.Spec.PushSecretRef = nil }
	tests := []struct {
		name       string
		mutate     func(ib *v1alpha1.ImageBuild)
		exitCode   int32
		message    string
		reason     string
		contains   []string
		causeInLog bool
	}{
		{
			name:     "wrong password at the push permission check",
			exitCode: 1,
			message:  pushCheckPrefix + `checking push permission for "127.0.0.1:5443/app:bad": POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:app Type:repository] map[Action:push Class: Name:app Type:repository]]` + "\n",
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"registry 127.0.0.1:5443", "127.0.0.1:5443/app:bad", "UNAUTHORIZED: authentication required", "Secret builds/regcred", "kubectl create secret docker-registry regcred -n builds --docker-server=127.0.0.1:5443"},
		},
		{
			name:     "push refused without a Secret",
			mutate:   withoutSecret,
			exitCode: 1,
			message:  pushCheckPrefix + `checking push permission for "127.0.0.1:5443/app:bad": POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:app Type:repository] map[Action:push Class: Name:app Type:repository]]`,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"127.0.0.1:5443/app:bad", "no push Secret is set", "kubectl create secret docker-registry", "spec.pushSecretRef.name"},
		},
		{
			name: "push refused to a service account",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.PushSecretRef = nil
				ib.Spec.ServiceAccountName = "ecr-pusher"
			},
			exitCode: 1,
			message:  pushCheckPrefix + `checking push permission for "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/app:v1": POST https://123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/v2/app/blobs/uploads/: DENIED: Not Authorized`,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/app:v1", "service account builds/ecr-pusher", "DENIED: Not Authorized"},
		},
		{
			name:     "ECR push refused with a Secret",
			exitCode: 1,
			message:  pushCheckPrefix + `checking push permission for "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/app:v1": POST https://123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/v2/app/blobs/uploads/: DENIED: Your authorization token has expired. Reauthenticate and try again.`,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"Secret builds/regcred", "DENIED: Your authorization token has expired", "ECR passwords expire after 12 hours"},
		},
		{
			name:     "wrong password, base image pull with the push check skipped",
			exitCode: 1,
			message:  buildPrelude + `error building image: unable to complete operation after 0 attempts, last error: GET https://127.0.0.1:5443/v2/base/manifests/latest: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:base Type:repository]]`,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"registry 127.0.0.1:5443", "base image 127.0.0.1:5443/base:latest", "Secret builds/regcred"},
		},
		{
			name:     "wrong push credentials after a good pull, push check skipped",
			exitCode: 1,
			message: buildPrelude + "\x1b[36mINFO\x1b[0m[0001] Pushing image to 127.0.0.1:5444/app:bad      \n" +
				`error pushing image: failed to push to destination 127.0.0.1:5444/app:bad: HEAD https://127.0.0.1:5444/v2/app/manifests/bad: unexpected status code 401 Unauthorized (HEAD responses have no body, use GET for details)`,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"registry 127.0.0.1:5444", "127.0.0.1:5444/app:bad", "unexpected status code 401 Unauthorized", "regcred"},
		},
		{
			name:     "unreachable registry",
			exitCode: 1,
			message:  pushCheckPrefix + `checking push permission for "127.0.0.1:5999/app:x": creating push check transport for 127.0.0.1:5999 failed: Get "https://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused; Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused`,
			reason:   v1alpha1.ReasonPushFailed,
			contains: []string{"cannot reach registry 127.0.0.1:5999", "127.0.0.1:5999/app:x", "dial tcp 127.0.0.1:5999: connect: connection refused", "nothing accepts connections"},
		},
		{
			name:     "unreachable registry with the push check skipped",
			exitCode: 1,
			message:  buildPrelude + `error pushing image: failed to push to destination 127.0.0.1:5999/app:x: Get "https://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused; Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused`,
			reason:   v1alpha1.ReasonPushFailed,
			contains: []string{"cannot reach registry 127.0.0.1:5999 to push 127.0.0.1:5999/app:x", "connection refused"},
		},
		{
			name:     "unresolvable registry host",
			exitCode: 1,
			message:  pushCheckPrefix + `checking push permission for "registry.invalid:5000/app:x": creating push check transport for registry.invalid:5000 failed: Get "https://registry.invalid:5000/v2/": dial tcp: lookup registry.invalid on [::1]:53: read udp [::1]:45475->[::1]:53: read: connection refused`,
			reason:   v1alpha1.ReasonPushFailed,
			contains: []string{"registry.invalid:5000/app:x", "lookup registry.invalid", "does not resolve"},
		},
		{
			name:     "registry CA not trusted",
			exitCode: 1,
			message:  pushCheckPrefix + `checking push permission for "127.0.0.1:5443/app:x": creating push check transport for 127.0.0.1:5443 failed: Get "https://127.0.0.1:5443/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority; GET http://127.0.0.1:5443/v2/: unexpected status code 400 Bad Request: Client sent an HTTP request to an HTTPS server.`,
			reason:   v1alpha1.ReasonPushFailed,
			contains: []string{"127.0.0.1:5443/app:x", "x509: certificate signed by unknown authority", "TLS certificate"},
		},
		{
			name:     "base image missing",
			exitCode: 1,
			message: strings.ReplaceAll(buildPrelude, "base:latest", "doesnotexist:latest") +
				`error building image: unable to complete operation after 0 attempts, last error: GET https://127.0.0.1:5443/v2/doesnotexist/manifests/latest: MANIFEST_UNKNOWN: manifest unknown; unknown tag=latest`,
			reason:   v1alpha1.ReasonBaseImageNotFound,
			contains: []string{"base image 127.0.0.1:5443/doesnotexist:latest does not exist", "MANIFEST_UNKNOWN", "FROM"},
		},
		{
			name:     "base image missing on Docker Hub, pinned by digest",
			exitCode: 1,
			message:  `error building image: unable to complete operation after 2 attempts, last error: GET https://index.docker.io/v2/library/nosuchimage/manifests/sha256:1111111111111111111111111111111111111111111111111111111111111111: MANIFEST_UNKNOWN: manifest unknown`,
			reason:   v1alpha1.ReasonBaseImageNotFound,
			contains: []string{"docker.io/nosuchimage@sha256:1111111111111111111111111111111111111111111111111111111111111111"},
		},
		{
			name:     "base image refused by Docker Hub",
			mutate:   withoutSecret,
			exitCode: 1,
			message:  `error building image: unable to complete operation after 0 attempts, last error: GET https://index.docker.io/v2/acme/private/manifests/latest: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:acme/private Type:repository]]`,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"registry docker.io", "docker.io/acme/private:latest", "Docker Hub also answers this way", "no push Secret is set"},
		},
		{
			name:     "RUN exits 3",
			exitCode: 3,
			message: buildPrelude +
				"\x1b[36mINFO\x1b[0m[0000] Unpacking rootfs as cmd RUN exit 3 requires it. \n" +
				"\x1b[36mINFO\x1b[0m[0000] RUN exit 3                                   \n" +
				"\x1b[36mINFO\x1b[0m[0000] Initializing snapshotter ...                 \n" +
				"\x1b[36mINFO\x1b[0m[0000] Taking snapshot of full filesystem...        \n" +
				"\x1b[36mINFO\x1b[0m[0000] Cmd: /bin/sh                                 \n" +
				"\x1b[36mINFO\x1b[0m[0000] Args: [-c exit 3]                            \n" +
				"\x1b[36mINFO\x1b[0m[0000] Running: [/bin/sh -c exit 3]                 \n" +
				"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3\n",
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{`Dockerfile step "RUN exit 3" failed with exit status 3`, "127.0.0.1:5443/app:bad", "kubectl logs -n builds shop-prod-api-g3-1 -c kaniko"},
		},
		{
			name:     "RUN step with its own error output, text log format",
			exitCode: 1,
			message: `time="2026-11-26T10:00:00Z" level=info msg="RUN go build ./..."` + "\n" +
				`time="2026-11-26T10:00:00Z" level=info msg="Running: [/bin/sh -c go build ./...]"` + "\n" +
				"main.go:3:1: syntax error: non-declaration statement outside function body\n" +
				"error: build failed\n" +
				"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1",
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{`"RUN go build ./..." failed with exit status 1`},
		},
		{
			// The one Kaniko log reader understands every --log-format, so the failing step is
			// named in the json format too.
			name:     "RUN step, json log format",
			exitCode: 2,
			message: `{"level":"info","msg":"RUN make","time":"2026-11-26T10:00:00Z"}` + "\n" +
				`{"level":"info","msg":"Running: [/bin/sh -c make]","time":"2026-11-26T10:00:00Z"}` + "\n" +
				"error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2",
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{`Dockerfile step "RUN make" failed with exit status 2`},
		},
		{
			name:     "RUN killed for lack of memory",
			exitCode: 1,
			message: buildPrelude + "\x1b[36mINFO\x1b[0m[0003] RUN npm ci                                   \n" +
				"error building image: error building stage: failed to execute command: waiting for process to exit: signal: killed",
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{`"RUN npm ci" was killed (signal: killed)`, "spec.resources.limits.memory"},
		},
		{
			name:     "COPY of a missing file",
			exitCode: 1,
			message: buildPrelude + "\x1b[36mINFO\x1b[0m[0000] RUN echo earlier step                        \n" +
				`error building image: error building stage: failed to get files used from context: failed to get fileinfo for /workspace/missing.txt: lstat /workspace/missing.txt: no such file or directory`,
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{"missing.txt is not in the build context", ".dockerignore", "COPY or ADD"},
		},
		{
			name:     "bad target",
			mutate:   func(ib *v1alpha1.ImageBuild) { ib.Spec.Target = "nosuch" },
			exitCode: 1,
			message:  `error building image: Error finding target stage: nosuch is not a valid target build stage`,
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{`spec.target "nosuch" is not a stage`, "FROM ... AS"},
		},
		{
			name:     "not detected as a container",
			exitCode: 1,
			message:  `kaniko should only be run inside of a container, run with the --force flag if you are sure you want to continue`,
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{"127.0.0.1:5443/app:bad", "did not detect"},
		},
		{
			name:       "push failed after the digest was written",
			exitCode:   1,
			message:    goodDigest,
			reason:     v1alpha1.ReasonPushFailed,
			contains:   []string{"push most likely failed", goodDigest, "127.0.0.1:5443/app:bad", "kubectl logs"},
			causeInLog: true,
		},
		{
			name:       "usage text after an early error, bundle source",
			exitCode:   1,
			message:    usageTail,
			reason:     v1alpha1.ReasonBuildFailed,
			contains:   []string{`the Dockerfile "Dockerfile" is probably not in the build context`, "kubectl logs -n builds"},
			causeInLog: true,
		},
		{
			name: "usage text after an early error, git source",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git", Revision: "release"}}
			},
			exitCode:   1,
			message:    usageTail,
			reason:     v1alpha1.ReasonSourceFetchFailed,
			contains:   []string{"could not clone https://github.com/acme/shop.git at release"},
			causeInLog: true,
		},
		{
			name:       "no message at all",
			exitCode:   2,
			message:    "",
			reason:     v1alpha1.ReasonBuildFailed,
			contains:   []string{"exit code 2", "left no message"},
			causeInLog: true,
		},
		{
			name:     "log tail that lost the head of the error line",
			exitCode: 1,
			message:  `ation required; [map[Action:pull Class: Name:app Type:repository] map[Action:push Class: Name:app Type:repository]] POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED: authentication required`,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"registry 127.0.0.1:5443", "Secret builds/regcred"},
		},
		{
			name:     "error line at the end of a huge log",
			exitCode: 3,
			message:  strings.Repeat("\x1b[36mINFO\x1b[0m[0000] Taking snapshot of full filesystem...\n", 5000) + "\x1b[36mINFO\x1b[0m[0009] RUN make\nerror building image: error building stage: failed to execute command: waiting for process to exit: exit status 3",
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{`"RUN make" failed with exit status 3`},
		},
		{
			name:     "unknown last line",
			exitCode: 1,
			message:  buildPrelude + "something odd happened\n",
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{"something odd happened", "exit code 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := finished(basePod(t, tt.mutate), tt.exitCode, "", tt.message)
			got := Interpret(pod)
			if !got.Done || got.Lost || got.Phase != v1alpha1.PhaseFailed || got.Digest != "" {
				t.Errorf("result = %+v, want a finished failure without digest", got)
			}
			if got.Reason != tt.reason {
				t.Errorf("reason = %s, want %s (message %q)", got.Reason, tt.reason, got.Message)
			}
			if got.CauseInLog != tt.causeInLog {
				t.Errorf("CauseInLog = %v, want %v", got.CauseInLog, tt.causeInLog)
			}
			for _, c := range tt.contains {
				if !strings.Contains(got.Message, c) {
					t.Errorf("message lacks %q:\n%s", c, got.Message)
				}
			}
			t.Log(got.Message)
			assertMessage(t, got.Message)
		})
	}
}

// assertMessage checks what every message must be: one line of valid UTF-8, within the size
// limit, without terminal escapes.
func assertMessage(t *testing.T, m string) {
	t.Helper()
	if len(m) > MaxMessageBytes {
		t.Errorf("message is %d bytes, more than %d", len(m), MaxMessageBytes)
	}
	if !utf8.ValidString(m) || strings.ContainsAny(m, "\n\r\x1b") {
		t.Errorf("message is not one clean line: %q", m)
	}
}

func TestInterpretWithLog(t *testing.T) {
	gitBuild := func(ib *v1alpha1.ImageBuild) {
		ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git", Revision: "release"}}
	}
	gitBuildWithSecret := func(ib *v1alpha1.ImageBuild) {
		gitBuild(ib)
		ib.Spec.Source.Git.SecretRef = &v1alpha1.LocalSecretReference{Name: "git-cred"}
	}
	gitBuildPinned := func(ib *v1alpha1.ImageBuild) {
		ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git", Revision: strings.Repeat("c", 40), Ref: "refs/heads/gone"}}
	}
	tests := []struct {
		name     string
		mutate   func(ib *v1alpha1.ImageBuild)
		termMsg  string
		log      string
		reason   string
		contains []string
	}{
		{
			name:     "git: private repository, no credentials",
			mutate:   gitBuild,
			termMsg:  usageTail,
			log:      "Enumerating objects: 5, done.\nError: error resolving source context: authentication required: authentication required\nUsage:\n  executor [flags]\n  executor [command]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"https://github.com/acme/shop.git asks for credentials", "spec.source.git.secretRef", "--git-credentials=forward"},
		},
		{
			name:     "git: credentials refused",
			mutate:   gitBuildWithSecret,
			termMsg:  usageTail,
			log:      "Error: error resolving source context: authentication required: Invalid username or password.\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"refused the credentials of Secret git-cred", "Invalid username or password", "expired"},
		},
		{
			name:     "git: token may not read",
			mutate:   gitBuildWithSecret,
			termMsg:  usageTail,
			log:      "Error: error resolving source context: authorization failed: \nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"refused the credentials of Secret git-cred"},
		},
		{
			name:     "git: repository not found, anonymous",
			mutate:   gitBuild,
			termMsg:  usageTail,
			log:      "Error: error resolving source context: repository not found: Repository not found.\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonRepositoryNotFound,
			contains: []string{"no repository https://github.com/acme/shop.git", "if the repository is private", "spec.source.git.secretRef"},
		},
		{
			name:     "git: revision missing",
			mutate:   gitBuild,
			termMsg:  usageTail,
			log:      "Error: error resolving source context: invalid branch: release\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonRevisionNotFound,
			contains: []string{"revision release is no branch or tag of https://github.com/acme/shop.git"},
		},
		{
			name:     "git: pinned ref missing",
			mutate:   gitBuildPinned,
			termMsg:  usageTail,
			log:      "Error: error resolving source context: reference not found\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonRevisionNotFound,
			contains: []string{"ref refs/heads/gone is no branch or tag"},
		},
		{
			name:     "git: pinned commit not on its branch",
			mutate:   gitBuildPinned,
			termMsg:  usageTail,
			log:      "Error: error resolving source context: object not found\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonRevisionNotFound,
			contains: []string{"commit " + strings.Repeat("c", 40) + " is not in https://github.com/acme/shop.git reachable from refs/heads/gone"},
		},
		{
			name: "git: commit by SHA on a stock server",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://git.example.com/shop.git", Revision: strings.Repeat("c", 40)}}
			},
			termMsg:  usageTail,
			log:      "Error: error resolving source context: server does not support exact SHA1 refspec\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonRevisionNotFound,
			contains: []string{"set spec.source.git.ref"},
		},
		{
			name: "git: sub path missing",
			mutate: func(ib *v1alpha1.ImageBuild) {
				gitBuild(ib)
				ib.Spec.Source.Git.SubPath = "services/api"
			},
			termMsg:  usageTail,
			log:      "Error: error resolving source context: stat /kaniko/buildcontext/services/api: no such file or directory\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonSubPathNotFound,
			contains: []string{`spec.source.git.subPath "services/api" is no directory of https://github.com/acme/shop.git at release`},
		},
		{
			name:     "git: server unreachable",
			mutate:   gitBuild,
			termMsg:  usageTail,
			log:      "Error: error resolving source context: Get \"https://github.com/acme/shop.git/info/refs?service=git-upload-pack\": dial tcp 10.0.0.9:443: connect: connection refused\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonSourceFetchFailed,
			contains: []string{"cannot reach the Git server", "connection refused"},
		},
		{
			name:     "Dockerfile missing from the bundle",
			termMsg:  usageTail,
			log:      "Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile\nUsage:\n  executor [flags]\n\nFlags:\n" + usageTail,
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{`the Dockerfile "Dockerfile" is not in the build context`, "spec.dockerfile"},
		},
		{
			name:     "push error behind a digest",
			termMsg:  goodDigest,
			log:      buildPrelude + `error pushing image: failed to push to destination 127.0.0.1:5444/app:bad: HEAD https://127.0.0.1:5444/v2/app/manifests/bad: unexpected status code 401 Unauthorized (HEAD responses have no body, use GET for details)`,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{"127.0.0.1:5444/app:bad", "401 Unauthorized"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := finished(basePod(t, tt.mutate), 1, "", tt.termMsg)
			if first := Interpret(pod); !first.CauseInLog {
				t.Fatalf("Interpret did not ask for the log: %+v", first)
			}
			got := InterpretWithLog(pod, tt.log)
			if got.Reason != tt.reason || !got.Done || got.CauseInLog || got.Digest != "" {
				t.Errorf("result = %+v, want reason %s, done, cause found, no digest", got, tt.reason)
			}
			for _, c := range tt.contains {
				if !strings.Contains(got.Message, c) {
					t.Errorf("message lacks %q:\n%s", c, got.Message)
				}
			}
			t.Log(got.Message)
			assertMessage(t, got.Message)
		})
	}
}

func TestInterpretSuccess(t *testing.T) {
	tests := []struct {
		name      string
		exitCode  int32
		message   string
		succeeded bool
	}{
		{"digest", 0, goodDigest, true},
		{"digest with newline", 0, goodDigest + "\n", true},
		{"empty", 0, "", false},
		{"uppercase hex", 0, strings.ToUpper(goodDigest), false},
		{"short digest", 0, goodDigest[:70], false},
		{"other algorithm", 0, "sha512:" + strings.Repeat("a", 64), false},
		{"digest in a sentence", 0, "Pushed " + goodDigest, false},
		{"digest and non-zero exit", 1, goodDigest, false},
		{"digest and exit 137", 137, goodDigest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Interpret(finished(basePod(t, nil), tt.exitCode, "", tt.message))
			if !got.Done {
				t.Fatalf("not done: %+v", got)
			}
			if tt.succeeded {
				if got.Phase != v1alpha1.PhaseSucceeded || got.Reason != v1alpha1.ReasonSucceeded || got.Digest != goodDigest {
					t.Errorf("result = %+v, want success with %s", got, goodDigest)
				}
				return
			}
			if got.Phase == v1alpha1.PhaseSucceeded || got.Digest != "" {
				t.Errorf("result = %+v, want a failure without digest", got)
			}
			if tt.exitCode == 0 && (got.Reason != v1alpha1.ReasonPushFailed || !strings.Contains(got.Message, "no valid image digest")) {
				t.Errorf("exit 0 without digest: %+v", got)
			}
		})
	}
}

func TestInterpretPodStates(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	initDone := []corev1.ContainerStatus{{Name: FetchContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
	tests := []struct {
		name     string
		mutate   func(ib *v1alpha1.ImageBuild)
		pod      func(p *corev1.Pod)
		done     bool
		lost     bool
		reason   string
		contains []string
	}{
		{
			name: "still running",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.InitContainerStatuses = initDone
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: KanikoContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
			},
			reason: v1alpha1.ReasonBuilding,
		},
		{
			name: "fetching the bundle",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: FetchContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: KanikoContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
			},
			reason:   v1alpha1.ReasonBuilding,
			contains: []string{"fetching source bundle " + testBundleRef},
		},
		{
			name: "unschedulable",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
					Message: "0/3 nodes are available: 3 Insufficient memory."}}
			},
			reason:   v1alpha1.ReasonBuilding,
			contains: []string{"waiting for a node", "Insufficient memory"},
		},
		{
			name: "executor image cannot be pulled",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Status.InitContainerStatuses = initDone
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: KanikoContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "ImagePullBackOff", Message: `Back-off pulling image "gcr.io/kaniko-project/executor:v9"`}}}}
			},
			reason:   v1alpha1.ReasonBuilding,
			contains: []string{"container kaniko", "ImagePullBackOff", "executor:v9", "--executor-image"},
		},
		{
			// A git build needs the manager's image too, for its user namespace probe.
			name: "probe image cannot be pulled",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://github.com/acme/shop.git"}}
			},
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodPending
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: ProbeContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "ErrImagePull", Message: `failed to pull "ghcr.io/fleetflow/flow-build:v0.1.0": not found`}}}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: KanikoContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
			},
			reason:   v1alpha1.ReasonBuilding,
			contains: []string{"container userns-probe", "ErrImagePull", "flow-build:v0.1.0", "--fetcher-image"},
		},
		{
			name: "node not reporting",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodUnknown
			},
			reason:   v1alpha1.ReasonBuilding,
			contains: []string{"does not report its state"},
		},
		{
			name: "deadline exceeded",
			mutate: func(ib *v1alpha1.ImageBuild) {
				ib.Spec.Timeout = &metav1.Duration{Duration: 45 * time.Minute}
			},
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.Reason = "DeadlineExceeded"
				p.Status.Message = "Pod was active on the node longer than the specified deadline"
				p.Status.InitContainerStatuses = initDone
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: KanikoContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}}}}
			},
			done:     true,
			reason:   v1alpha1.ReasonTimeout,
			contains: []string{"spec.timeout (45m)", "127.0.0.1:5443/app:bad", "raise spec.timeout"},
		},
		{
			name: "out of memory",
			pod: func(p *corev1.Pod) {
				*p = *finished(p, 137, "OOMKilled", "")
			},
			done:     true,
			reason:   v1alpha1.ReasonOOMKilled,
			contains: []string{"out of memory", "4Gi", "spec.resources.limits.memory"},
		},
		{
			name: "evicted for node pressure",
			pod: func(p *corev1.Pod) {
				*p = *finished(p, 137, "", "")
				p.Status.Reason = "Evicted"
				p.Status.Message = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi."
			},
			done:     true,
			lost:     true,
			reason:   v1alpha1.ReasonPodLost,
			contains: []string{"Evicted", "low on resource"},
		},
		{
			name: "evicted for its own storage limit",
			pod: func(p *corev1.Pod) {
				*p = *finished(p, 137, "", "")
				p.Status.Reason = "Evicted"
				p.Status.Message = "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. "
			},
			done:     true,
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{"ephemeral-storage", "exceeds the total limit"},
		},
		{
			name: "workspace volume full",
			pod: func(p *corev1.Pod) {
				*p = *finished(p, 137, "", "")
				p.Status.Reason = "Evicted"
				p.Status.Message = `Usage of EmptyDir volume "workspace" exceeds the limit "8Gi". `
			},
			done:     true,
			reason:   v1alpha1.ReasonSourceFetchFailed,
			contains: []string{"build context", ".dockerignore", `"workspace" exceeds the limit "8Gi"`},
		},
		{
			name: "preempted",
			pod: func(p *corev1.Pod) {
				*p = *finished(p, 143, "", "")
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
					Reason: corev1.PodReasonPreemptionByScheduler, Message: "default-scheduler: preempting to accommodate a higher priority pod"}}
			},
			done:     true,
			lost:     true,
			reason:   v1alpha1.ReasonPodLost,
			contains: []string{"PreemptionByScheduler"},
		},
		{
			name: "deleted while running",
			pod: func(p *corev1.Pod) {
				p.DeletionTimestamp = &now
				p.Status.Phase = corev1.PodRunning
				p.Status.InitContainerStatuses = initDone
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: KanikoContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
			},
			done:     true,
			lost:     true,
			reason:   v1alpha1.ReasonPodLost,
			contains: []string{"deleted before it finished"},
		},
		{
			name: "deleted after a real failure keeps the failure",
			pod: func(p *corev1.Pod) {
				*p = *finished(p, 3, "", "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3")
				p.DeletionTimestamp = &now
			},
			done:     true,
			reason:   v1alpha1.ReasonBuildFailed,
			contains: []string{"exit status 3"},
		},
		{
			name: "container status lost with the node",
			pod: func(p *corev1.Pod) {
				*p = *finished(p, 137, "ContainerStatusUnknown", "The container could not be located when the pod was terminated")
			},
			done:     true,
			lost:     true,
			reason:   v1alpha1.ReasonPodLost,
			contains: []string{"vanished"},
		},
		{
			name: "rejected at admission",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.Reason = "OutOfmemory"
				p.Status.Message = "Pod Node didn't have enough resource: memory"
			},
			done:     true,
			lost:     true,
			reason:   v1alpha1.ReasonPodLost,
			contains: []string{"OutOfmemory"},
		},
		{
			name: "failed without any container status",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
			},
			done:     true,
			lost:     true,
			reason:   v1alpha1.ReasonPodLost,
			contains: []string{"before Kaniko finished"},
		},
		{
			name: "bundle fetch refused",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: FetchContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error",
					Message: "fetching source bundle " + testBundleRef + ": GET https://ghcr.io/v2/acme/shop/api/source/manifests/sha256:0123: UNAUTHORIZED: authentication required",
				}}}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: KanikoContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
			},
			done:     true,
			reason:   v1alpha1.ReasonAuthenticationFailed,
			contains: []string{testBundleRef, "refused access to the bundle", "Secret builds/regcred"},
		},
		{
			name: "bundle gone",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: FetchContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error",
					Message: "fetching source bundle " + testBundleRef + ": GET https://ghcr.io/v2/acme/shop/api/source/manifests/sha256:0123: MANIFEST_UNKNOWN: manifest unknown",
				}}}}
			},
			done:     true,
			reason:   v1alpha1.ReasonSourceFetchFailed,
			contains: []string{"no longer in the registry", "run flow build again"},
		},
		{
			name: "bundle fetch with an empty message",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: FetchContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}}}
			},
			done:     true,
			reason:   v1alpha1.ReasonSourceFetchFailed,
			contains: []string{"exit code 2", "-c fetch-source"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := basePod(t, tt.mutate)
			tt.pod(pod)
			got := Interpret(pod)
			if got.Done != tt.done || got.Lost != tt.lost || got.Reason != tt.reason || got.Digest != "" {
				t.Errorf("result = %+v, want done=%v lost=%v reason=%s", got, tt.done, tt.lost, tt.reason)
			}
			wantPhase := v1alpha1.PhaseBuilding
			if tt.done {
				wantPhase = v1alpha1.PhaseFailed
			}
			if got.Phase != wantPhase {
				t.Errorf("phase = %s, want %s", got.Phase, wantPhase)
			}
			for _, c := range tt.contains {
				if !strings.Contains(got.Message, c) {
					t.Errorf("message lacks %q:\n%s", c, got.Message)
				}
			}
			t.Log(got.Message)
			assertMessage(t, got.Message)
		})
	}
	if got := Interpret(nil); !got.Lost || !got.Done {
		t.Errorf("Interpret(nil) = %+v, want lost", got)
	}
}

func TestInterpretRedactsCredentials(t *testing.T) {
	secrets := []string{"hunter2", "dXNlcjpodW50ZXIy", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "c2VjcmV0OnRva2Vu"}
	tests := []struct {
		name    string
		message string
	}{
		{"basic auth URL", `error pushing image: failed to push to destination 127.0.0.1:5444/app:bad: Get "https://bob:hunter2@127.0.0.1:5444/v2/": dial tcp 127.0.0.1:5444: connect: connection refused`},
		{"docker config in the log", `error building image: parsing docker config {"auths":{"ghcr.io":{"auth":"dXNlcjpodW50ZXIy"}}}: unexpected end of JSON input`},
		{"escaped docker config", `error building image: bad config "{\"auths\":{\"ghcr.io\":{\"auth\":\"dXNlcjpodW50ZXIy\",\"password\":\"hunter2\"}}}"`},
		{"authorization header", "error pushing image: request failed: Authorization: Basic dXNlcjpodW50ZXIy; UNAUTHORIZED"},
		{"bearer token", "error pushing image: DENIED: token Bearer c2VjcmV0OnRva2Vu rejected"},
		{"git token URL", "Error: error resolving source context: git://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/private.git: authentication required"},
		{"query token", "error building image: GET https://registry.example.com/token?scope=repo&access_token=hunter2: UNAUTHORIZED: x"},
		{"password flag in RUN output", "\x1b[36mINFO\x1b[0m[0000] RUN login --password hunter2\nerror building image: error building stage: failed to execute command: waiting for process to exit: exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := finished(basePod(t, nil), 1, "", tt.message)
			for _, r := range []Result{Interpret(pod), InterpretWithLog(pod, tt.message)} {
				for _, s := range secrets {
					if strings.Contains(r.Message, s) {
						t.Errorf("message leaks %q: %s", s, r.Message)
					}
				}
				assertMessage(t, r.Message)
			}
		})
	}
}

func TestInterpretBoundsMessages(t *testing.T) {
	huge := pushCheckPrefix + `checking push permission for "127.0.0.1:5443/app:bad": POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED: ` +
		strings.Repeat("authentication required 認証が必要です; ", 400)
	pod := finished(basePod(t, nil), 1, "", huge)
	got := Interpret(pod)
	assertMessage(t, got.Message)
	if got.Reason != v1alpha1.ReasonAuthenticationFailed {
		t.Errorf("reason = %s", got.Reason)
	}
	// The remedy must survive the cut: the cause is clipped before the message is assembled.
	if !strings.Contains(got.Message, "kubectl create secret docker-registry") {
		t.Errorf("the remedy was cut off: %s", got.Message)
	}
}

func TestValidDigest(t *testing.T) {
	for s, want := range map[string]bool{
		goodDigest:                          true,
		"sha256:" + strings.Repeat("0", 64): true,
		"":                                  false,
		"sha256:":                           false,
		goodDigest + " ":                    false,
		" " + goodDigest:                    false,
		"SHA256:" + goodDigest[7:]:          false,
		"sha256:" + strings.Repeat("g", 64): false,
		goodDigest + "0":                    false,
	} {
		if got := ValidDigest(s); got != want {
			t.Errorf("ValidDigest(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzInterpret(f *testing.F) {
	seeds := []string{
		"",
		goodDigest,
		usageTail,
		pushCheckPrefix + `checking push permission for "127.0.0.1:5443/app:bad": POST https://127.0.0.1:5443/v2/app/blobs/uploads/: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:app Type:repository]]`,
		`error building image: unable to complete operation after 0 attempts, last error: GET https://127.0.0.1:5443/v2/doesnotexist/manifests/latest: MANIFEST_UNKNOWN: manifest unknown; unknown tag=latest`,
		buildPrelude + "\x1b[36mINFO\x1b[0m[0000] RUN exit 3\nerror building image: error building stage: failed to execute command: waiting for process to exit: exit status 3",
		`error building image: error building stage: failed to get files used from context: failed to get fileinfo for /workspace/missing.txt: lstat /workspace/missing.txt: no such file or directory`,
		`error pushing image: failed to push to destination 127.0.0.1:5999/app:x: Get "https://u:p@127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused`,
		"time=\"x\" level=fatal msg=\"\\\"auth\\\":\\\"abc\\\"\"",
		"\xff\xfe\x1b[31m" + strings.Repeat("é", 3000),
	}
	for i, s := range seeds {
		f.Add(s, int32(i%4), i%2 == 0)
	}
	base := basePodForFuzz()
	f.Fuzz(func(t *testing.T, message string, exitCode int32, withLog bool) {
		pod := finished(base, exitCode, "", message)
		got := Interpret(pod)
		if withLog {
			got = InterpretWithLog(pod, message)
		}
		if len(got.Message) > MaxMessageBytes || !utf8.ValidString(got.Message) {
			t.Fatalf("bad message (%d bytes): %q", len(got.Message), got.Message)
		}
		if !got.Done {
			t.Fatalf("a terminated kaniko container is not done: %+v", got)
		}
		if got.Phase == v1alpha1.PhaseSucceeded != (exitCode == 0 && ValidDigest(strings.TrimSpace(message))) {
			t.Fatalf("success %v for exit %d and message %q", got.Phase, exitCode, message)
		}
		if got.Digest != "" && (got.Phase != v1alpha1.PhaseSucceeded || !ValidDigest(got.Digest)) {
			t.Fatalf("digest %q on %s", got.Digest, got.Phase)
		}
		if got.Reason == "" {
			t.Fatalf("no reason: %+v", got)
		}
	})
}

func basePodForFuzz() *corev1.Pod {
	ib := newBuild()
	ib.Spec.PushSecretRef = &v1alpha1.LocalSecretReference{Name: "regcred"}
	pod, err := Build(ib, 1, testOptions())
	if err != nil {
		panic(err)
	}
	return pod
}

func TestOutput(t *testing.T) {
	ib := &v1alpha1.ImageBuild{Spec: v1alpha1.ImageBuildSpec{Image: "ghcr.io/org/app", Tags: []string{"v1.2.0", "latest"}}}
	got := Output(ib, goodDigest)
	want := &v1alpha1.BuildOutput{
		Image: "ghcr.io/org/app:v1.2.0", Digest: goodDigest, ShortDigest: goodDigest[7:19],
		ImageRef: "ghcr.io/org/app@" + goodDigest, Tags: []string{"v1.2.0", "latest"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Output = %+v, want %+v", got, want)
	}
	// Nothing that is not a digest reaches status.output, where deployments would pin it.
	if got := Output(ib, "sha256:short"); got.Digest != "" || got.ImageRef != "" || got.ShortDigest != "" {
		t.Errorf("Output with a bad digest = %+v", got)
	}
	got.Tags[0] = "changed"
	if ib.Spec.Tags[0] != "v1.2.0" {
		t.Error("Output shares its tags with the spec")
	}
}

// A container waiting for an image the node cannot pull is reported as stuck, with the failure to
// report when the controller stops waiting: naming the image and the manager setting behind it.
func TestInterpretImagePullStuck(t *testing.T) {
	opts := testOptions()
	tests := []struct {
		name      string
		container string
		reason    string
		permanent bool
		mentions  []string
	}{
		{"executor back-off", KanikoContainer, "ImagePullBackOff", false, []string{opts.ExecutorImage, "executor.image", "--executor-image"}},
		{"executor pull error", KanikoContainer, "ErrImagePull", false, []string{opts.ExecutorImage}},
		{"executor name invalid", KanikoContainer, "InvalidImageName", true, []string{opts.ExecutorImage}},
		{"fetcher never pulled", FetchContainer, "ErrImageNeverPull", true, []string{opts.FetcherImage, "fetch-source", "--image-pull-policy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := basePod(t, nil)
			pod.Status.Phase = corev1.PodPending
			waiting := corev1.ContainerStatus{Name: tt.container, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: tt.reason, Message: "rpc error: code = NotFound desc = failed to pull and unpack image"}}}
			if tt.container == FetchContainer {
				pod.Status.InitContainerStatuses = []corev1.ContainerStatus{waiting}
			} else {
				pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: FetchContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
				pod.Status.ContainerStatuses = []corev1.ContainerStatus{waiting}
			}
			got := Interpret(pod)
			if got.Done || got.PullStuck == nil {
				t.Fatalf("result %+v: want a build still in progress, stuck on its image", got)
			}
			if got.PullStuck.Permanent != tt.permanent {
				t.Errorf("permanent = %v, want %v", got.PullStuck.Permanent, tt.permanent)
			}
			f := got.PullStuck.Failure
			if !f.Done || f.Phase != v1alpha1.PhaseFailed || f.Reason != v1alpha1.ReasonImagePullFailed {
				t.Errorf("failure %+v, want Failed/ImagePullFailed", f)
			}
			for _, m := range append(tt.mentions, tt.reason) {
				if !strings.Contains(f.Message, m) {
					t.Errorf("failure message lacks %q:\n%s", m, f.Message)
				}
			}
			assertMessage(t, f.Message)
		})
	}
	// A container that merely starts is not stuck.
	pod := basePod(t, nil)
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: KanikoContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	if got := Interpret(pod); got.PullStuck != nil {
		t.Errorf("a creating container is reported stuck: %+v", got.PullStuck)
	}
}

// The controller reads LogTailLines of the log: enough to reach the error line above the usage text
// that Kaniko v1.24.0 prints after it (captured from the executor: `executor --help`).
func TestLogTailReachesTheErrorAboveTheUsage(t *testing.T) {
	usage, err := os.ReadFile(filepath.Join("testdata", "kaniko-v1.24.0-usage.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	for i := range 300 {
		fmt.Fprintf(&log, "remote: Counting objects: %d%%\n", i%100)
	}
	log.WriteString("Error: error resolving source context: authentication required: authentication required\n")
	log.Write(usage)
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	tail := strings.Join(lines[len(lines)-LogTailLines:], "\n")
	if len(tail) > LogTailBytes {
		t.Fatalf("the tail is %d bytes, more than the %d read", len(tail), LogTailBytes)
	}
	pod := finished(basePod(t, func(ib *v1alpha1.ImageBuild) {
		ib.Spec.Source = v1alpha1.BuildSource{Git: &v1alpha1.GitSource{URL: "https://git.example.com/p.git", Revision: "main"}}
	}), 1, "", lastBytes(string(usage), 2048))
	if first := Interpret(pod); !first.CauseInLog {
		t.Fatalf("Interpret did not ask for the log: %+v", first)
	}
	if got := InterpretWithLog(pod, tail); got.Reason != v1alpha1.ReasonAuthenticationFailed {
		t.Errorf("with the last %d lines of the log: %s (%s), want AuthenticationFailed", LogTailLines, got.Reason, got.Message)
	}
}
