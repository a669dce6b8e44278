// Package buildpod turns an ImageBuild into the Kaniko pod that builds it, and a finished pod back
// into a build result: the pushed digest, or a failure reason from the API's vocabulary with a
// message a person can act on.
//
// The package is pure: it reads objects and returns objects, and talks to neither the API server
// nor a registry, so the controller stays a thin loop and every decision here is unit-tested.
package buildpod

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/bundle"
	"github.com/fleetflow/flow-build/internal/gitresolve"
	"github.com/fleetflow/flow-build/internal/kubename"
	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/userns"
)

const (
	// DefaultExecutorImage is the Kaniko executor run when Options.ExecutorImage is empty. It is
	// the same version as the Kaniko module the tests build and run, so the tests prove what
	// production runs. Upstream is archived; github.com/chainguard-dev/kaniko v1.25.x is a
	// maintained fork that takes the same flags.
	DefaultExecutorImage = "gcr.io/kaniko-project/executor:v1.24.0"

	// DefaultTimeout bounds a build attempt when spec.timeout is unset (the CRD defaults it to the
	// same value; this covers objects that bypassed defaulting).
	DefaultTimeout = 30 * time.Minute

	// KanikoContainer is the name of the container running the Kaniko executor; its log is the
	// build log (`kubectl logs <pod> -c kaniko`).
	KanikoContainer = "kaniko"
	// FetchContainer is the name of the init container that unpacks a source bundle.
	FetchContainer = "fetch-source"
	// ProbeContainer is the name of the init container of builds without a bundle (git sources,
	// which Kaniko clones itself): it only reports whether the pod runs in a user namespace, which
	// FetchContainer does in bundle builds.
	ProbeContainer = "userns-probe"
	// PushContainer is the name of the container that pushes a platform's image by digest, after
	// Kaniko (an init container in those pods) has built it into OutputDir.
	PushContainer = "push"

	// WorkspaceDir is where the source bundle is unpacked and what Kaniko builds from.
	WorkspaceDir = "/workspace"
	// OutputDir is where Kaniko leaves a platform's image as an OCI layout for the push container.
	// It is a volume of its own: Kaniko leaves mounted directories out of the image it builds.
	OutputDir = "/output"
	// DockerConfigDir is where the push Secret's config.json is mounted; DOCKER_CONFIG points here
	// in both containers, so one Secret serves the bundle pull, base image pulls and the push.
	DockerConfigDir = "/kaniko/.docker"
	// TerminationLogPath is the file Kubernetes reports as the container's termination message.
	// Kaniko writes the image digest there (--digest-file), which is how the controller learns it
	// without reading logs or asking the registry.
	TerminationLogPath = corev1.TerminationMessagePathDefault

	// DownloadDir is where the fetcher downloads the compressed bundle and verifies its digest,
	// before it unpacks anything into WorkspaceDir. Only the fetcher mounts it.
	DownloadDir = "/download"

	workspaceVolume    = "workspace"
	outputVolume       = "output"
	downloadVolume     = "download"
	dockerConfigVolume = "docker-config"

	// defaultContainerAnnotation makes `kubectl logs <pod>` show the build log without -c.
	defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

	// ExitPlatformMismatch is the exit code of the fetch-source container when a base image is
	// not published for the platform being built.
	ExitPlatformMismatch = 3

	// fetcherUID is the conventional "nonroot" user of distroless images, which the manager
	// image is built on.
	fetcherUID = 65532
)

// Options are manager-wide settings for every build pod.
type Options struct {
	// ExecutorImage is the Kaniko executor image; empty means DefaultExecutorImage.
	ExecutorImage string
	// FetcherImage is the manager's own image, run as the first init container of every build
	// pod (`fetch-source` for bundle sources, `userns-probe` for the others) and as the push
	// container of multi-platform builds. Required.
	FetcherImage string
	// PullPolicy applies to both images; empty leaves Kubernetes' default (Always for :latest,
	// IfNotPresent otherwise).
	PullPolicy corev1.PullPolicy
	// PushRetry is Kaniko's --push-retry: how often a failed push is retried. 0 means no retry
	// (the manager's flag defaults to 2).
	PushRetry int
	// ImageDownloadRetry is Kaniko's --image-download-retry: how often a failed base image pull
	// is retried. 0 means no retry; Kaniko waits 1s, 2s, 4s ... between tries.
	ImageDownloadRetry int
	// HostUsers runs build pods in the node's user namespace, where root in the pod is root on the
	// node. The default, false, gives each build pod a user namespace of its own (hostUsers: false),
	// in which Kaniko's root is an unprivileged user of the node. Only for nodes that cannot run
	// user namespaces (Linux < 6.3, containerd < 2.0, runc < 1.2, CRI-O < 1.25) or builds that need
	// the node's IDs (base images with files owned by IDs above the kubelet's idsPerPod).
	HostUsers bool
}

// PodName is the deterministic name of the pod building generation ib.Generation of ib, attempt
// attempt (1 for the first pod of a generation). Being a function of these alone is what keeps a
// restarted controller from starting a second build: it finds the pod by name.
//
// The name is "<name>-g<generation>-<attempt>" and at most 63 characters, because the kubelet
// uses the pod name as the hostname. A longer ImageBuild name, or one that is not a DNS label
// (it contains dots), is cut and suffixed with a hash of the full name, so that distinct
// ImageBuilds never share pod names.
func PodName(ib *v1alpha1.ImageBuild, attempt int32) string {
	return kubename.DNSLabel(ib.Name, fmt.Sprintf("-g%d-%d", ib.Generation, attempt))
}

// PlatformPodName is the deterministic name of the pod building platform p of generation
// ib.Generation of ib, attempt attempt: "<name>-g<generation>-<os>-<arch>[-<variant>]-<attempt>",
// cut and hashed like PodName.
func PlatformPodName(ib *v1alpha1.ImageBuild, p platform.Platform, attempt int32) string {
	return kubename.DNSLabel(ib.Name, fmt.Sprintf("-g%d-%s-%d", ib.Generation, p.Slug(), attempt))
}

// Placement is where the pod of one platform of a build with spec.platforms runs.
type Placement struct {
	Platform platform.Platform
	// Emulated places the pod on nodes labelled for emulating the platform (Platform.EmulationLabel)
	// instead of nodes of its own architecture.
	Emulated bool
}

// nodeSelector pins the pod: to nodes of the platform's OS and architecture, or to nodes of its
// OS labelled for emulating it.
func (pl Placement) nodeSelector() map[string]string {
	if pl.Emulated {
		return map[string]string{"kubernetes.io/os": pl.Platform.OS, pl.Platform.EmulationLabel(): "true"}
	}
	return pl.Platform.NodeSelector()
}

var tagPattern = regexp.MustCompile(v1alpha1.TagPattern)

// Build returns the pod that builds generation ib.Generation of ib, attempt attempt, for a build
// without spec.platforms: Kaniko builds for the node it lands on and pushes every tag. The error
// names the spec field that makes the build impossible and how to fix it; the API validation
// rejects most of these earlier, so hitting one here means the object bypassed it.
func Build(ib *v1alpha1.ImageBuild, attempt int32, opts Options) (*corev1.Pod, error) {
	return build(ib, nil, attempt, opts)
}

// BuildPlatform returns the pod that builds one platform of a build with spec.platforms. It runs
// on the nodes pl names, tells Kaniko the platform (--custom-platform), keeps a layer cache per
// platform and, with spec.push, pushes the image by digest only: Kaniko (an init container)
// writes it to an OCI layout and the push container pushes it as <image>@<digest>, so that no
// tag names a platform's image alone. The fetch-source container first checks that the base
// images have the platform.
func BuildPlatform(ib *v1alpha1.ImageBuild, pl Placement, attempt int32, opts Options) (*corev1.Pod, error) {
	return build(ib, &pl, attempt, opts)
}

func build(ib *v1alpha1.ImageBuild, pl *Placement, attempt int32, opts Options) (*corev1.Pod, error) {
	if attempt < 1 {
		return nil, fmt.Errorf("build pod attempt %d is invalid: attempts count from 1", attempt)
	}
	if ib.UID == "" {
		// The owner reference needs the UID; without it the API server rejects the pod.
		return nil, fmt.Errorf("ImageBuild %s/%s has no UID: build pods can only be made for an ImageBuild read from the API server", ib.Namespace, ib.Name)
	}
	spec := &ib.Spec
	if err := validate(spec); err != nil {
		return nil, err
	}
	timeout := DefaultTimeout
	if spec.Timeout != nil {
		if spec.Timeout.Duration <= 0 {
			return nil, fmt.Errorf("spec.timeout is %s: it must be positive, for example 30m", spec.Timeout.Duration)
		}
		timeout = spec.Timeout.Duration
	}
	deadline := int64(math.Ceil(timeout.Seconds()))

	if opts.FetcherImage == "" {
		return nil, fmt.Errorf("the manager has no fetcher image, which runs the init container of every build pod: set the manager's --fetcher-image flag (or FLOW_BUILD_IMAGE) to the manager's own image")
	}
	executorImage := opts.ExecutorImage
	if executorImage == "" {
		executorImage = DefaultExecutorImage
	}
	resources, err := containerResources(spec.Resources)
	if err != nil {
		return nil, err
	}

	name, labels := PodName(ib, attempt), podLabels(ib, attempt)
	if pl != nil {
		name = PlatformPodName(ib, pl.Platform, attempt)
		labels[v1alpha1.LabelPlatform] = pl.Platform.Slug()
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ib.Namespace,
			Labels:    labels,
			Annotations: map[string]string{
				defaultContainerAnnotation: KanikoContainer,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ib, v1alpha1.ImageBuildKind)},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:        &deadline,
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			// A user namespace of its own makes root in the pod an unprivileged user of the node.
			// A node that cannot honour it may run the pod anyway, and an API server with the
			// feature off drops the field: the first init container reports what the pod got.
			HostUsers: hostUsers(opts),
			SecurityContext: &corev1.PodSecurityContext{
				// The fetcher runs as a non-root user; fsGroup makes the mounted docker config
				// group-readable for it (the Secret files get this group and mode 0440) and
				// gives it the workspace, without running it as root.
				FSGroup:        ptr.To[int64](fetcherUID),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
		},
	}
	if pl != nil {
		pod.Spec.NodeSelector = pl.nodeSelector()
		if !pl.Emulated {
			// Clouds taint the nodes of a second architecture so that images built for only one
			// do not land there (GKE: kubernetes.io/arch=arm64:NoSchedule); a build for that
			// architecture belongs there.
			pod.Spec.Tolerations = []corev1.Toleration{{
				Key: "kubernetes.io/arch", Operator: corev1.TolerationOpEqual, Value: pl.Platform.Arch, Effect: corev1.TaintEffectNoSchedule,
			}}
		}
	}
	if spec.ServiceAccountName != "" {
		// Cloud workload identity (IRSA, GKE Workload Identity) reaches Kaniko's built-in ECR and
		// GCR credential helpers through the projected service account token.
		pod.Spec.ServiceAccountName = spec.ServiceAccountName
		pod.Spec.AutomountServiceAccountToken = ptr.To(true)
	}

	var configMounts []corev1.VolumeMount
	if spec.PushSecretRef != nil {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name: dockerConfigVolume,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: spec.PushSecretRef.Name,
				// Only the one key, under the file name the docker config loaders look for.
				Items:       []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}},
				DefaultMode: ptr.To[int32](0o440),
			}},
		})
		configMounts = []corev1.VolumeMount{{Name: dockerConfigVolume, MountPath: DockerConfigDir, ReadOnly: true}}
	}

	kaniko := corev1.Container{
		Name:            KanikoContainer,
		Image:           executorImage,
		ImagePullPolicy: opts.PullPolicy,
		// Only the directory: the credentials stay in the mounted file and never reach the
		// environment, where `kubectl describe` and crash dumps would show them.
		Env:                      []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: DockerConfigDir}},
		Resources:                resources,
		VolumeMounts:             configMounts,
		TerminationMessagePath:   TerminationLogPath,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			// Kaniko builds by unpacking the base image over its own root filesystem and running
			// RUN steps in it: it must be root inside the container, with the runtime's default
			// capabilities (CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID ... to give files their
			// owners and run steps as other users), but no privileged mode and no host access.
			// Those capabilities are why build pods need a namespace that admits the "baseline"
			// Pod Security level: "restricted" demands dropping them all, even for a pod in a
			// user namespace, where it does allow root. Privilege escalation stays allowed so
			// that RUN steps may use setuid programs (su, sudo), as in any Docker build.
			RunAsUser: ptr.To[int64](0),
		},
	}

	var contextArgs []string
	switch {
	case spec.Source.Bundle != nil:
		workspace := corev1.VolumeMount{Name: workspaceVolume, MountPath: WorkspaceDir}
		download := corev1.VolumeMount{Name: downloadVolume, MountPath: DownloadDir}
		fetchArgs := []string{"fetch-source", "--image=" + spec.Source.Bundle.Image, "--dest=" + WorkspaceDir,
			"--scratch=" + DownloadDir, "--timeout=" + timeout.String()}
		if pl != nil {
			// Kaniko builds a base image that lacks the platform as if it had it, and says nothing:
			// the platform is checked here, before the build, while the Dockerfile is at hand.
			fetchArgs = append(fetchArgs, "--check-platform="+pl.Platform.String(), "--dockerfile="+dockerfile(spec))
			if spec.Target != "" {
				fetchArgs = append(fetchArgs, "--target="+spec.Target)
			}
			for _, a := range buildArgs(spec, pl) {
				fetchArgs = append(fetchArgs, "--build-arg="+a.Name+"="+a.Value)
			}
		}
		fetch := corev1.Container{
			Name:            FetchContainer,
			Image:           opts.FetcherImage,
			ImagePullPolicy: opts.PullPolicy,
			Args:            fetchArgs,
			// The same requests as Kaniko: a pod's effective request is the larger of its init
			// and regular containers, so this costs nothing, and it satisfies a ResourceQuota
			// or LimitRange that demands resources on every container.
			Resources:                resources,
			VolumeMounts:             append([]corev1.VolumeMount{workspace, download}, configMounts...),
			TerminationMessagePath:   TerminationLogPath,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			SecurityContext:          helperSecurityContext(),
		}
		if spec.PushSecretRef != nil {
			fetch.Env = []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: DockerConfigDir}}
		}
		pod.Spec.InitContainers = []corev1.Container{fetch}
		// Both volumes are bounded like what the fetcher writes into them: the kubelet evicts a
		// pod whose volume grows past its size limit, so a hostile bundle cannot fill the node.
		sizeLimit := resource.NewQuantity(bundle.DefaultLimits.MaxBytes, resource.BinarySI)
		pod.Spec.Volumes = append([]corev1.Volume{
			{Name: workspaceVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: sizeLimit}}},
			{Name: downloadVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: sizeLimit}}},
		}, pod.Spec.Volumes...)
		kaniko.VolumeMounts = append([]corev1.VolumeMount{workspace}, kaniko.VolumeMounts...)
		contextArgs = []string{
			"--context=dir://" + WorkspaceDir,
			"--dockerfile=" + path.Join(WorkspaceDir, dockerfile(spec)),
		}
	case spec.Source.Git != nil:
		gitArgs, pullMethod, err := gitContext(spec.Source.Git)
		if err != nil {
			return nil, err
		}
		// Kaniko clones over https unless told otherwise; an http:// URL must say so.
		kaniko.Env = append(kaniko.Env, corev1.EnvVar{Name: "GIT_PULL_METHOD", Value: pullMethod})
		credentials := gitCredentialsEnv(spec.Source.Git)
		kaniko.Env = append(kaniko.Env, credentials...)
		// Nothing to fetch, but the pod must still say whether it got a user namespace, and
		// Kaniko's image has no shell to ask it with. For a branch or tag, the same container
		// finds out which commit it names, just before Kaniko clones it, for the status.
		probeArgs := []string{userns.ProbeCommand}
		if g := spec.Source.Git; !v1alpha1.GitCommitRE.MatchString(g.Revision) {
			probeArgs = append(probeArgs, "--git-url="+g.URL, "--git-revision="+g.Revision)
		}
		pod.Spec.InitContainers = []corev1.Container{{
			Name:            ProbeContainer,
			Image:           opts.FetcherImage,
			ImagePullPolicy: opts.PullPolicy,
			Args:            probeArgs,
			Env:             credentials,
			// As for fetch-source: free, and what a ResourceQuota may demand.
			Resources:                resources,
			TerminationMessagePath:   TerminationLogPath,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			SecurityContext:          helperSecurityContext(),
		}}
		// Relative: Kaniko resolves it against the cloned context (including the sub path).
		contextArgs = gitArgs
		contextArgs = append(contextArgs, "--dockerfile="+dockerfile(spec))
	}
	kaniko.Args = kanikoArgs(spec, pl, contextArgs, opts)
	pod.Spec.Containers = []corev1.Container{kaniko}
	if pl != nil && spec.Push {
		// Kaniko can only push to tags; it leaves the image in a layout instead, and the push
		// container, which runs once Kaniko has finished, pushes it by digest.
		output := corev1.VolumeMount{Name: outputVolume, MountPath: OutputDir}
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name: outputVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		})
		kaniko.VolumeMounts = append(kaniko.VolumeMounts, output)
		// Kaniko (root) writes the layout's blobs readable by their owner only, so the push
		// container reads them as that owner: uid 0, but without a single capability, on a
		// read-only root filesystem, and the layout mounted read-only.
		pushSecurity := helperSecurityContext()
		pushSecurity.RunAsUser, pushSecurity.RunAsGroup, pushSecurity.RunAsNonRoot = ptr.To[int64](0), ptr.To[int64](0), ptr.To(false)
		push := corev1.Container{
			Name:                     PushContainer,
			Image:                    opts.FetcherImage,
			ImagePullPolicy:          opts.PullPolicy,
			Args:                     []string{"push-image", "--layout=" + OutputDir, "--repository=" + spec.Image},
			Resources:                resources,
			VolumeMounts:             append([]corev1.VolumeMount{{Name: outputVolume, MountPath: OutputDir, ReadOnly: true}}, configMounts...),
			TerminationMessagePath:   TerminationLogPath,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			SecurityContext:          pushSecurity,
		}
		if spec.PushSecretRef != nil {
			push.Env = []corev1.EnvVar{{Name: "DOCKER_CONFIG", Value: DockerConfigDir}}
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, kaniko)
		pod.Spec.Containers = []corev1.Container{push}
	}
	return pod, nil
}

// hostUsers is the pod's hostUsers field: false (a user namespace of its own) unless the manager
// was told otherwise, and then unset, which is the Kubernetes default (the node's namespace).
func hostUsers(opts Options) *bool {
	if opts.HostUsers {
		return nil
	}
	return ptr.To(false)
}

// helperSecurityContext is the fetch, probe and push containers': the manager's own program, as the
// non-root user, with nothing it does not need.
func helperSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsUser:                ptr.To[int64](fetcherUID),
		RunAsGroup:               ptr.To[int64](fetcherUID),
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// buildArgs are the spec's build args sorted by name, plus, for a platform pod, the platform
// args buildx defines (TARGETARCH ...) that the spec does not set itself.
func buildArgs(spec *v1alpha1.ImageBuildSpec, pl *Placement) []v1alpha1.BuildArg {
	args := append([]v1alpha1.BuildArg(nil), spec.BuildArgs...)
	if pl != nil {
		set := map[string]bool{}
		for _, a := range args {
			set[a.Name] = true
		}
		for name, value := range pl.Platform.BuildArgs() {
			if !set[name] {
				args = append(args, v1alpha1.BuildArg{Name: name, Value: value})
			}
		}
	}
	sort.SliceStable(args, func(i, j int) bool { return args[i].Name < args[j].Name })
	return args
}

// CacheRepository is the layer cache of a build: spec.cache.repository, else <image>/cache; for
// a platform of a build with spec.platforms, a repository of its own below it
// (<cache>/linux-arm64). Kaniko's cache keys do not always tell platforms apart (a RUN on top of
// FROM scratch has the same key on every platform), so platforms never share one.
func CacheRepository(spec *v1alpha1.ImageBuildSpec, p *platform.Platform) string {
	repo := spec.Image + "/cache"
	if spec.Cache != nil && spec.Cache.Repository != "" {
		repo = spec.Cache.Repository
	}
	if p != nil {
		repo += "/" + p.Slug()
	}
	return repo
}

// kanikoArgs lists the executor flags in a fixed order, so that equal specs give equal pods.
func kanikoArgs(spec *v1alpha1.ImageBuildSpec, pl *Placement, contextArgs []string, opts Options) []string {
	args := append([]string(nil), contextArgs...)
	byDigest := pl != nil && spec.Push
	if !byDigest {
		for _, tag := range spec.Tags {
			args = append(args, "--destination="+spec.Image+":"+tag)
		}
	}
	// Kaniko writes the digest before it pushes; Interpret trusts it only on exit code 0.
	args = append(args, "--digest-file="+TerminationLogPath)
	if pl != nil {
		args = append(args, "--custom-platform="+pl.Platform.Kaniko())
	}
	if spec.Target != "" {
		args = append(args, "--target="+spec.Target)
	}
	for _, a := range buildArgs(spec, pl) {
		args = append(args, "--build-arg="+a.Name+"="+a.Value)
	}
	// The cache lives in a registry and needs push access to it, which a build that does not
	// push is not expected to have; the API refuses a cache repository without push.
	if spec.Push && (spec.Cache == nil || !spec.Cache.Disabled) {
		var p *platform.Platform
		if pl != nil {
			p = &pl.Platform
		}
		args = append(args, "--cache=true", "--cache-repo="+CacheRepository(spec, p))
	}
	args = append(args,
		// redo compares file metadata instead of hashing every file: much faster on large
		// images, and what Kaniko recommends unless a build relies on same-size-same-mtime edits.
		"--snapshot-mode=redo",
		// Without it Kaniko builds every stage before the target, even those the target never
		// uses: with a debug and a production stage side by side, half the work is wasted.
		"--skip-unused-stages",
		"--push-retry="+strconv.Itoa(max(opts.PushRetry, 0)),
		"--image-download-retry="+strconv.Itoa(max(opts.ImageDownloadRetry, 0)),
	)
	if !spec.Push || byDigest {
		args = append(args, "--no-push")
	}
	if byDigest {
		args = append(args, "--oci-layout-path="+OutputDir)
	}
	return args
}

// gitContext maps a GitSource to Kaniko's git context flags. Kaniko's syntax
// (pkg/buildcontext/git.go in v1.24.0) is `git://<host>/<path>[#<ref>[#<commit>]]` with the scheme
// chosen by GIT_PULL_METHOD; `#refs/...` names a ref, `#<40 hex>` a commit (fetched by SHA),
// `#<ref>#<commit>` clones the ref and checks the commit out, and a short branch or tag name only
// resolves through `--git=branch=<name>`.
func gitContext(g *v1alpha1.GitSource) (args []string, pullMethod string, err error) {
	u, err := url.Parse(g.URL)
	if err != nil {
		// url.Error repeats the raw URL, credentials included; keep only its cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, "", fmt.Errorf("spec.source.git.url %q is not a URL (%w): use an https URL such as https://github.com/org/repo.git", redactURL(g.URL), err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, "", fmt.Errorf("spec.source.git.url %q must start with https:// (or http://), for example https://github.com/org/repo.git", redactURL(g.URL))
	case u.User != nil:
		// Kaniko would accept it, but the token would then sit in the pod's arguments, visible
		// to everyone who can read pods.
		return nil, "", fmt.Errorf("spec.source.git.url must not contain credentials (user:token@): only public repositories can be cloned by URL; remove the credentials from %q", redactURL(g.URL))
	case u.Host == "":
		return nil, "", fmt.Errorf("spec.source.git.url %q has no host, use for example https://github.com/org/repo.git", g.URL)
	case strings.Contains(g.URL, "#"):
		return nil, "", fmt.Errorf("spec.source.git.url %q must not contain '#': put the branch, tag or commit in spec.source.git.revision", g.URL)
	}
	rest := strings.SplitN(g.URL, "://", 2)[1]
	context := "git://" + rest
	var extra []string
	switch rev := g.Revision; {
	case rev == "":
	case strings.ContainsAny(rev, "# \t\n"):
		return nil, "", fmt.Errorf("spec.source.git.revision %q must be one branch, tag or commit without '#' or spaces", rev)
	case fullSHA.MatchString(rev) && g.Ref != "":
		// Kaniko clones the ref and checks the commit out: no server is asked for a commit it
		// does not advertise, which stock servers refuse ("server does not support exact SHA1
		// refspec").
		if !v1alpha1.GitRefRE.MatchString(g.Ref) {
			return nil, "", fmt.Errorf("spec.source.git.ref %q must be a full branch or tag ref such as refs/heads/main or refs/tags/v1.2.0", g.Ref)
		}
		context += "#" + g.Ref + "#" + strings.ToLower(rev)
	case fullSHA.MatchString(rev):
		context += "#" + strings.ToLower(rev)
	case strings.HasPrefix(rev, "refs/"):
		context += "#" + rev
	default:
		extra = append(extra, "--git=branch="+rev)
	}
	args = []string{"--context=" + context}
	if g.SubPath != "" {
		sub, err := relativePath("spec.source.git.subPath", g.SubPath)
		if err != nil {
			return nil, "", err
		}
		if sub != "." {
			args = append(args, "--context-sub-path="+sub)
		}
	}
	return append(args, extra...), u.Scheme, nil
}

var fullSHA = v1alpha1.GitCommitRE

// gitCredentialsEnv passes the basic-auth Secret of spec.source.git.secretRef to the clone under
// the names Kaniko reads (GIT_USERNAME, GIT_PASSWORD), by reference: the values never enter the
// pod spec, so neither `kubectl describe pod` nor an event can show them.
func gitCredentialsEnv(g *v1alpha1.GitSource) []corev1.EnvVar {
	if g.SecretRef == nil {
		return nil
	}
	from := func(key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: g.SecretRef.Name}, Key: key}}
	}
	return []corev1.EnvVar{
		{Name: gitresolve.UsernameEnv, ValueFrom: from(corev1.BasicAuthUsernameKey)},
		{Name: gitresolve.PasswordEnv, ValueFrom: from(corev1.BasicAuthPasswordKey)},
	}
}

func dockerfile(spec *v1alpha1.ImageBuildSpec) string {
	if spec.Dockerfile == "" {
		return "Dockerfile"
	}
	// validate already checked it; Clean removes "./" and doubled slashes.
	return path.Clean(spec.Dockerfile)
}

// relativePath checks that p stays inside the directory it is relative to.
func relativePath(field, p string) (string, error) {
	clean := path.Clean(p)
	if path.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%s %q must be a relative path inside the build context, without '..'", field, p)
	}
	return clean, nil
}

func validate(spec *v1alpha1.ImageBuildSpec) error {
	if spec.Image == "" || strings.ContainsAny(spec.Image, "@ \t\n") {
		return fmt.Errorf("spec.image %q must be a repository without tag or digest, such as ghcr.io/org/app", spec.Image)
	}
	if len(spec.Tags) == 0 {
		return fmt.Errorf("spec.tags is empty: give at least one tag, such as v1.2.0")
	}
	for _, t := range spec.Tags {
		if !tagPattern.MatchString(t) {
			return fmt.Errorf("spec.tags has the invalid tag %q: use 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", t)
		}
	}
	if (spec.Source.Bundle == nil) == (spec.Source.Git == nil) {
		return fmt.Errorf("spec.source needs exactly one of bundle or git")
	}
	if b := spec.Source.Bundle; b != nil && !bundleRef.MatchString(b.Image) {
		return fmt.Errorf("spec.source.bundle.image %q must reference the bundle by digest (repository@sha256:<64 hex digits>)", b.Image)
	}
	if spec.Dockerfile != "" {
		if _, err := relativePath("spec.dockerfile", spec.Dockerfile); err != nil {
			return err
		}
	}
	for _, a := range spec.BuildArgs {
		if a.Name == "" || strings.ContainsAny(a.Name, "= \t\n") {
			return fmt.Errorf("spec.buildArgs has the invalid name %q: use letters, digits and '_', as in an ARG instruction", a.Name)
		}
	}
	if _, err := platform.ParseList(spec.Platforms); err != nil {
		return fmt.Errorf("spec.platforms: %w", err)
	}
	if spec.Cache != nil && spec.Cache.Repository != "" && strings.ContainsAny(spec.Cache.Repository, "@ \t\n") {
		return fmt.Errorf("spec.cache.repository %q must be a repository without tag or digest, such as ghcr.io/org/app/cache", spec.Cache.Repository)
	}
	return nil
}

var bundleRef = regexp.MustCompile(`^[^@\s]+@sha256:[a-f0-9]{64}$`)

// containerResources copies limits and requests. Dynamic resource claims would need matching
// pod-level claims, which the API has no field for, so they are refused rather than dropped.
func containerResources(r *corev1.ResourceRequirements) (corev1.ResourceRequirements, error) {
	if r == nil {
		return corev1.ResourceRequirements{}, nil
	}
	if len(r.Claims) > 0 {
		return corev1.ResourceRequirements{}, fmt.Errorf("spec.resources.claims is not supported for build pods: remove it and use limits and requests")
	}
	return corev1.ResourceRequirements{Limits: r.Limits.DeepCopy(), Requests: r.Requests.DeepCopy()}, nil
}

func podLabels(ib *v1alpha1.ImageBuild, attempt int32) map[string]string {
	labels := map[string]string{}
	// The project/stage/service labels let `kubectl get pods -l fleetflow.dev/stage=prod` find a
	// stage's builds, exactly as for the ImageBuilds themselves.
	for k, v := range ib.Labels {
		if strings.HasPrefix(k, "fleetflow.dev/") {
			labels[k] = v
		}
	}
	labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	labels[v1alpha1.LabelImageBuild] = kubename.LabelValue(ib.Name)
	labels[v1alpha1.LabelGeneration] = strconv.FormatInt(ib.Generation, 10)
	labels[v1alpha1.LabelAttempt] = strconv.FormatInt(int64(attempt), 10)
	return labels
}

// notOutputFlags are the executor flags that change where and how an image is pushed, or that
// the input key holds in its own terms (target, build args), but not the image's content.
var notOutputFlags = map[string]bool{
	"--destination": true, "--digest-file": true, "--cache": true, "--cache-repo": true,
	"--push-retry": true, "--image-download-retry": true, "--no-push": true, "--oci-layout-path": true,
	"--target": true, "--build-arg": true,
}

// ExecutorImage is the executor image a build pod runs.
func ExecutorImage(opts Options) string {
	if opts.ExecutorImage == "" {
		return DefaultExecutorImage
	}
	return opts.ExecutorImage
}

// OutputFlags are the executor flags of a build without platforms that change the image it
// produces, for its input key. They are read off the flags the build pod gets, so that a flag
// added there enters the key unless it is known not to change the image.
func OutputFlags(spec *v1alpha1.ImageBuildSpec, opts Options) []string {
	var flags []string
	for _, a := range kanikoArgs(spec, nil, nil, opts) {
		name, _, _ := strings.Cut(a, "=")
		if !notOutputFlags[name] {
			flags = append(flags, a)
		}
	}
	return flags
}

// PlatformBuildArgs are the build args a platform's pod passes to the executor: the spec's, plus
// the platform args (TARGETARCH ...) the spec does not set itself, by name.
func PlatformBuildArgs(spec *v1alpha1.ImageBuildSpec, p *platform.Platform) map[string]string {
	var pl *Placement
	if p != nil {
		pl = &Placement{Platform: *p}
	}
	args := map[string]string{}
	for _, a := range buildArgs(spec, pl) {
		args[a.Name] = a.Value
	}
	return args
}

// Dockerfile is the path of the build's Dockerfile inside its context.
func Dockerfile(spec *v1alpha1.ImageBuildSpec) string { return dockerfile(spec) }
