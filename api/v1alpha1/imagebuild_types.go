package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImageBuildSpec is the desired build: which source to build, with which Dockerfile, and where to push
// the result. Every change to the spec (a new metadata.generation) starts a new build; a resync never does.
//
// +kubebuilder:validation:XValidation:rule="!has(self.cache) || !has(self.cache.repository) || self.push",message="spec.cache.repository needs spec.push: true, because the layer cache lives in a registry; remove spec.cache.repository or set push to true"
type ImageBuildSpec struct {
	// image is the repository the built image is pushed to, without a tag or digest: a registry host
	// followed by a path (`ghcr.io/org/myapp`, `123456789.dkr.ecr.ap-northeast-1.amazonaws.com/myapp`,
	// `registry.local:5000/team/app`), or a Docker Hub `namespace/name` (`myuser/myapp`).
	// Tags go to spec.tags.
	//
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.contains('/')",message="spec.image has no registry: use a registry host and path such as ghcr.io/org/app, or a Docker Hub namespace/name such as myuser/app"
	// +kubebuilder:validation:XValidation:rule="!self.contains('@')",message="spec.image must not contain a digest: the digest is an output, found in status.output.digest"
	// +kubebuilder:validation:XValidation:rule="!self.matches('/[^/]*:[^/]*$')",message="spec.image must not contain a tag: put tags in spec.tags"
	// +kubebuilder:validation:XValidation:rule="self.matches('^((localhost|\\\\[[0-9a-fA-F:]+\\\\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:[0-9]+)?/)?[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)+$') || self.matches('^(localhost|\\\\[[0-9a-fA-F:]+\\\\]|[A-Za-z0-9-]+(\\\\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+:[0-9]+)(:[0-9]+)?/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*$')",message="spec.image is not a valid repository name: path components are lowercase letters, digits and separators (. _ __ -), for example ghcr.io/org/my-app"
	Image string `json:"image"`

	// tags are the tags pushed, one destination each; the first is the primary tag shown in
	// status.output.image. Each tag is 1 to 128 characters of letters, digits, `_`, `.` and `-`,
	// and does not start with `.` or `-`.
	//
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`
	Tags []string `json:"tags"`

	// push says whether the built image is pushed. With false the image is built and discarded
	// (Kaniko's --no-push), which checks that the Dockerfile builds.
	//
	// +optional
	// +kubebuilder:default=true
	Push bool `json:"push"`

	// source is where the build context comes from: exactly one of bundle or git.
	//
	// +required
	Source BuildSource `json:"source"`

	// dockerfile is the path of the Dockerfile inside the build context.
	//
	// +optional
	// +kubebuilder:default=Dockerfile
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.matches('(^|/)\\\\.\\\\.(/|$)')",message="spec.dockerfile must be a relative path inside the build context, without '..'"
	Dockerfile string `json:"dockerfile,omitempty"`

	// target is the stage of a multi-stage Dockerfile to build (Kaniko's --target). Empty builds the last stage.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	Target string `json:"target,omitempty"`

	// buildArgs are passed to the Dockerfile's ARG instructions. Values are visible to anyone who can
	// read the ImageBuild: never put secrets here.
	//
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	BuildArgs []BuildArg `json:"buildArgs,omitempty"`

	// cache configures Kaniko's registry layer cache and the reuse of unchanged images. Both are
	// on by default and live in `<image>/cache`.
	//
	// Before it starts a pod, the operator computes the build's input key (status.inputKey): a
	// hash of the source bundle's digest, the Dockerfile's content, the target, the build args
	// (their values hashed), the platforms, the digest every base image's tag points at now
	// (resolved by the operator at that moment, for every platform, whatever a rendered manifest
	// says), the executor image and the executor flags that change the image. When an image built
	// from the same key is still in spec.image, it tags it with spec.tags instead of building,
	// and the build succeeds with reason UpToDate and no pod. The key's record is a small
	// artifact tagged `input-<64 hex digits of the key>` in the cache repository, so it outlives
	// ImageBuilds and serves every cluster that pushes there. A build that cannot check (a git
	// source, spec.push false, a registry that cannot be reached or refuses the credentials of
	// spec.pushSecretRef, a base image that cannot be resolved) simply builds.
	//
	// +optional
	Cache *CacheSpec `json:"cache,omitempty"`

	// pushSecretRef names a Secret of type kubernetes.io/dockerconfigjson in the ImageBuild's namespace
	// holding the credentials used to pull the source bundle and base images and to push the result.
	// Create one with `kubectl create secret docker-registry NAME --docker-server=... --docker-username=...
	// --docker-password=...`. Leave it empty when the service account grants registry access
	// (workload identity, IRSA) or the registry needs none. Whoever may create ImageBuilds in a
	// namespace may push with any docker-config Secret of that namespace this way; only Secrets
	// that `flow build` forwarded (annotated build.fleetflow.dev/ephemeral) serve their own build
	// alone.
	//
	// +optional
	PushSecretRef *LocalSecretReference `json:"pushSecretRef,omitempty"`

	// serviceAccountName is the service account the build pod runs as, with its token mounted. Set
	// it for cloud workload identity (IRSA on EKS, Workload Identity on GKE), which Kaniko's
	// built-in ECR and GCR credential helpers use. The service account must carry the annotation
	// build.fleetflow.dev/allow-image-builds: "true" (kubectl annotate serviceaccount NAME
	// build.fleetflow.dev/allow-image-builds=true): the Dockerfile's commands run as root next to
	// the token, so the annotation is its owner's consent to lend it to every ImageBuild of the
	// namespace. Until it is there the build waits with reason ServiceAccountNotAllowed. Empty
	// means no service account token is mounted into the build pod.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// timeout bounds one build attempt, from pod creation to the end of the push. A build that takes
	// longer fails with reason Timeout.
	//
	// +optional
	// +kubebuilder:default="30m0s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="spec.timeout must be between 10s and 24h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// resources are the compute resources of the Kaniko container. Kaniko unpacks base images and
	// snapshots the filesystem in memory-backed steps: large images need a generous memory limit.
	//
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// platforms are the platforms to build, each `os/arch` or `os/arch/variant` as Docker writes
	// them: `linux/amd64`, `linux/arm64`, `linux/arm/v7`. Empty (the default) builds one image for
	// the architecture of whichever node runs the build, and pushes it without an index.
	//
	// With platforms, every platform is built by its own Kaniko pod, all in parallel: on a node of
	// that architecture when the cluster has a Ready one (pinned with the kubernetes.io/os and
	// kubernetes.io/arch node selectors), otherwise under emulation on a node labelled
	// `emulation.build.fleetflow.dev/<os>-<arch>[-<variant>]: "true"` (for example
	// `emulation.build.fleetflow.dev/linux-arm64`), and only when the operator allows emulation
	// (Helm value emulation.enabled). A platform that no node can build stops the build before any
	// pod starts, with reason PlatformUnavailable. Each base image must have the platform: one that
	// lacks it fails the build with reason PlatformMismatch before Kaniko runs (checked for bundle
	// sources). When every platform has built, the operator checks each image's config against its
	// platform and pushes one OCI image index under every tag, with the credentials of
	// spec.pushSecretRef (anonymously without one); status.output.digest is the index digest. The platform images are pushed by digest only, so no tag ever names one of them
	// alone, and no tag moves unless every platform succeeded. Kaniko runs every stage as the
	// target platform (`FROM --platform=...` is ignored); the build args TARGETPLATFORM, TARGETOS,
	// TARGETARCH, TARGETVARIANT and BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT are set to the
	// target platform unless spec.buildArgs sets them. Each platform has its own layer cache,
	// `<cache repository>/<os>-<arch>[-<variant>]`.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.all(p, p.matches('^linux/(386|amd64|arm|arm64|loong64|mips|mipsle|mips64|mips64le|ppc64|ppc64le|riscv64|s390x)(/v[0-9]+)?$'))",message="spec.platforms entries are os/arch or os/arch/variant with os linux (Kaniko builds Linux images), such as linux/amd64, linux/arm64 or linux/arm/v7"
	// +kubebuilder:validation:XValidation:rule="self.all(p, self.exists_one(q, (q.endsWith('/arm64/v8') ? q.substring(0, q.size() - 3) : q) == (p.endsWith('/arm64/v8') ? p.substring(0, p.size() - 3) : p)))",message="spec.platforms names the same platform twice (linux/arm64 and linux/arm64/v8 are one platform): list it once"
	Platforms []string `json:"platforms,omitempty"`

	// ttlSecondsAfterFinished deletes the ImageBuild (and its pod) this many seconds after it succeeded
	// or failed. Unset keeps it until deleted by hand.
	//
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
}

// BuildSource says where the build context comes from. Exactly one member is set.
//
// +kubebuilder:validation:XValidation:rule="has(self.bundle) != has(self.git)",message="spec.source needs exactly one of bundle or git"
type BuildSource struct {
	// bundle is an OCI artifact holding the build context as gzipped tar layers, unpacked in
	// order (a path may appear in one layer only), as pushed by `flow build`.
	//
	// +optional
	Bundle *BundleSource `json:"bundle,omitempty"`

	// git is a Git repository cloned by Kaniko; the form GitOps manifests use.
	//
	// +optional
	Git *GitSource `json:"git,omitempty"`
}

// BundleSource references a source bundle by digest, so the build always sees exactly the files that
// were uploaded, whatever happens to tags in the registry afterwards.
type BundleSource struct {
	// image is the bundle reference by digest: `<repository>@sha256:<64 hex digits>`.
	//
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@\\\\s]+@sha256:[a-f0-9]{64}$')",message="spec.source.bundle.image must reference the bundle by digest (repository@sha256:<64 hex digits>), never by tag"
	Image string `json:"image"`
}

// GitSource is a Git repository to build from.
//
// +kubebuilder:validation:XValidation:rule="!has(self.ref) || size(self.ref) == 0 || (has(self.revision) && self.revision.matches('^[0-9a-fA-F]{40}$'))",message="spec.source.git.ref is the branch or tag a pinned commit was taken from: set spec.source.git.revision to that full 40-character commit SHA, or drop ref and put the branch or tag name in revision"
type GitSource struct {
	// url is the repository to clone, over https (`https://github.com/org/repo.git`).
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') || self.startsWith('http://')",message="spec.source.git.url must be an http(s) URL such as https://github.com/org/repo.git"
	URL string `json:"url"`

	// revision is the branch, tag or full commit SHA to build. Empty builds the default branch. A
	// branch or tag is resolved when the build starts; status.source.gitCommit records the commit it
	// named then. A full 40-character commit SHA builds exactly that commit: give the branch or tag
	// it was taken from in ref, since most Git servers (git http-backend, Gitea, GitLab) refuse to
	// send a commit asked for by SHA alone.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Revision string `json:"revision,omitempty"`

	// ref is the branch or tag that revision, a full commit SHA, was taken from, as a full ref name:
	// `refs/heads/main` or `refs/tags/v1.2.0`. Kaniko clones it and checks the commit out, which
	// works on every Git server; the commit must be reachable from it. `flow build --source git`
	// renders it from the checkout. Empty asks the server for the commit by SHA, which only some
	// servers (GitHub) allow.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^refs/(heads|tags)/[^#[:space:]]+$')",message="spec.source.git.ref must be a full branch or tag ref such as refs/heads/main or refs/tags/v1.2.0"
	Ref string `json:"ref,omitempty"`

	// subPath is the directory inside the repository that is the build context. Empty is the repository root.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.matches('(^|/)\\\\.\\\\.(/|$)')",message="spec.source.git.subPath must be a relative path inside the repository, without '..'"
	SubPath string `json:"subPath,omitempty"`

	// secretRef names a Secret of type kubernetes.io/basic-auth in the ImageBuild's namespace holding
	// the credentials for a private repository: `username` and `password` (for GitHub, GitLab and
	// Gitea a personal or deploy access token; some servers ignore the username, others want
	// x-access-token or oauth2). Create one with `kubectl create secret generic NAME
	// --type=kubernetes.io/basic-auth --from-literal=username=USER --from-literal=password=TOKEN`.
	// The clone gets them through its environment, never its arguments; they appear in no log,
	// event or status. Empty clones anonymously (public repositories).
	//
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`
}

// BuildArg is one Dockerfile build argument.
type BuildArg struct {
	// name is the ARG name.
	//
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// value is the ARG value.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value"`
}

// CacheSpec configures Kaniko's layer cache.
type CacheSpec struct {
	// disabled turns the layer cache off and always builds, even when an image built from the
	// same inputs is in the registry (`flow build --no-cache`, or `no_cache #true` in a service's
	// build block). Use it for Dockerfiles whose result depends on more than their inputs:
	// `RUN apt-get update`, `RUN curl ...`, a package installed without a pinned version.
	//
	// +optional
	Disabled bool `json:"disabled,omitempty"`

	// repository is where cached layers are pushed and looked up. Empty means `<spec.image>/cache`.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.contains('/') && !self.contains('@') && !self.matches('/[^/]*:[^/]*$')",message="spec.cache.repository must be a repository without tag or digest, such as ghcr.io/org/app/cache"
	Repository string `json:"repository,omitempty"`
}

// LocalSecretReference names a Secret in the same namespace. References to other namespaces are
// deliberately impossible: a build may only use credentials its namespace already holds.
type LocalSecretReference struct {
	// name of the Secret.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// BuildPhase is a one-word summary of where a build is. Conditions carry the detail.
//
// +kubebuilder:validation:Enum=Pending;Building;Succeeded;Failed
type BuildPhase string

// The phases of a build, in the order a build moves through them.
const (
	// PhasePending: accepted, waiting for its Secret or for a free build slot.
	PhasePending BuildPhase = "Pending"
	// PhaseBuilding: the build pod exists and runs (fetching the source, building, pushing).
	PhaseBuilding BuildPhase = "Building"
	// PhaseSucceeded: the image was built (and pushed, with spec.push); status.output holds the digest.
	PhaseSucceeded BuildPhase = "Succeeded"
	// PhaseFailed: the build ended without an image; the Ready condition says why.
	PhaseFailed BuildPhase = "Failed"
)

// Finished reports whether the phase is terminal for the current generation.
func (p BuildPhase) Finished() bool { return p == PhaseSucceeded || p == PhaseFailed }

// Condition types, following kstatus so that `kubectl wait --for=condition=Ready`, Flux and Argo CD
// health checks understand an ImageBuild without custom code.
const (
	// ConditionReady is True once the image of the current generation is built and pushed.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the build of the current generation is in flight.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the build cannot make progress without a change: a terminal
	// failure, or a missing Secret.
	ConditionStalled = "Stalled"
)

// The reason vocabulary, shared by conditions, events and the results metric. One list, so that
// alerts and scripts can match on it.
const (
	// ReasonPending: waiting for a free build slot (the manager's concurrency cap).
	ReasonPending = "Pending"
	// ReasonBuilding: the build pod runs.
	ReasonBuilding = "Building"
	// ReasonSucceeded: the image was built and pushed; Ready is True.
	ReasonSucceeded = "Succeeded"
	// ReasonUpToDate: an image built from the same input key (status.inputKey) was still in the
	// registry, so the operator pointed spec.tags at it without a pod; Ready is True and
	// status.output.digest is the reused digest.
	ReasonUpToDate = "UpToDate"
	// ReasonSecretNotFound: spec.pushSecretRef or spec.source.git.secretRef names a Secret that does
	// not exist (yet); the build starts as soon as it appears. A build whose push Secret is deleted before it finished fails
	// with this reason, and so does one whose forwarded Secret never arrived.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonServiceAccountNotAllowed: spec.serviceAccountName names a service account that does
	// not exist or is not annotated build.fleetflow.dev/allow-image-builds=true. The build starts
	// as soon as it is.
	ReasonServiceAccountNotAllowed = "ServiceAccountNotAllowed"
	// ReasonInvalidSpec: the spec passed API validation but cannot be built (for example a push
	// Secret of the wrong type, or one that `flow build` forwarded for another build).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonImagePullFailed: the node could not pull the build pod's own images (the Kaniko
	// executor or the fetch-source image, both set by the manager) for minutes, or can never pull
	// them (an invalid name, pull policy Never).
	ReasonImagePullFailed = "ImagePullFailed"
	// ReasonSourceFetchFailed: the source bundle could not be pulled or unpacked, or the Git
	// repository could not be cloned (server unreachable, TLS).
	ReasonSourceFetchFailed = "SourceFetchFailed"
	// ReasonAuthenticationFailed: the registry refused the credentials (pulling the source bundle or a
	// base image, or pushing), or the Git server refused those of spec.source.git.secretRef (or
	// asked for credentials the build has none of).
	ReasonAuthenticationFailed = "AuthenticationFailed"
	// ReasonRepositoryNotFound: the Git server has no repository at spec.source.git.url, or hides a
	// private one from the build's credentials (GitHub and GitLab answer "not found" then).
	ReasonRepositoryNotFound = "RepositoryNotFound"
	// ReasonRevisionNotFound: spec.source.git.revision (or ref) is no branch, tag or commit of the
	// repository, or the pinned commit is not reachable from ref.
	ReasonRevisionNotFound = "RevisionNotFound"
	// ReasonSubPathNotFound: spec.source.git.subPath is no directory of the commit built.
	ReasonSubPathNotFound = "SubPathNotFound"
	// ReasonBaseImageNotFound: a FROM image does not exist in its registry.
	ReasonBaseImageNotFound = "BaseImageNotFound"
	// ReasonBuildFailed: a Dockerfile instruction failed (a RUN exited non-zero, a COPY source is missing ...).
	ReasonBuildFailed = "BuildFailed"
	// ReasonPushFailed: the image was built but could not be pushed (registry unreachable, TLS, quota ...).
	ReasonPushFailed = "PushFailed"
	// ReasonTimeout: the build ran longer than spec.timeout.
	ReasonTimeout = "Timeout"
	// ReasonOOMKilled: the Kaniko container ran out of memory; raise spec.resources.limits.memory.
	ReasonOOMKilled = "OOMKilled"
	// ReasonPodLost: the build pod disappeared (deleted, evicted, node lost) more often than the retry budget allows.
	ReasonPodLost = "PodLost"
	// ReasonSuperseded: on events only: a spec change replaced the generation whose pod was
	// running, and that pod was stopped so that only the current generation pushes.
	ReasonSuperseded = "Superseded"
	// ReasonPlatformUnavailable: no node can build one of spec.platforms, natively or under
	// emulation, or a node labelled for emulating it cannot run its programs.
	ReasonPlatformUnavailable = "PlatformUnavailable"
	// ReasonPlatformMismatch: a base image lacks one of spec.platforms, or an image built for a
	// platform says in its config that it is for another; nothing is tagged.
	ReasonPlatformMismatch = "PlatformMismatch"
	// ReasonPodSecurityRejected: the namespace's Pod Security admission refused the build pod. Kaniko
	// runs as root inside its pod, which the "restricted" level forbids; the namespace needs
	// "baseline". The build starts once the namespace admits it.
	ReasonPodSecurityRejected = "PodSecurityRejected"
)

// ReasonNoUserNamespace is the reason of the Warning event recorded when a build pod asked for a
// user namespace (hostUsers: false) and reported that it ran without one, as root on the node.
const ReasonNoUserNamespace = "NoUserNamespace"

// ImageBuildStatus is what the controller observed of the build of the current generation.
type ImageBuildStatus struct {
	// observedGeneration is the metadata.generation this status describes. While it lags behind
	// metadata.generation, the status is about an older spec.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is a one-word summary: Pending, Building, Succeeded or Failed.
	//
	// +optional
	Phase BuildPhase `json:"phase,omitempty"`

	// conditions are Ready, Reconciling and Stalled, with reasons from one documented vocabulary:
	// Pending, Building, Succeeded, UpToDate, SecretNotFound, ServiceAccountNotAllowed, PodSecurityRejected,
	// InvalidSpec, ImagePullFailed, SourceFetchFailed, AuthenticationFailed, BaseImageNotFound,
	// BuildFailed, PushFailed, Timeout, OOMKilled, PodLost, PlatformUnavailable, PlatformMismatch.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// podName is the build pod of the current attempt; `kubectl logs <podName> -c kaniko` shows the build log.
	// Builds with spec.platforms have one pod per platform, listed in status.platforms instead.
	//
	// +optional
	PodName string `json:"podName,omitempty"`

	// attempts counts the build pods created for this generation. It grows only when a pod is lost
	// before it finished.
	//
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// startTime is when the build pod of the current generation was created.
	//
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the build of the current generation succeeded or failed.
	//
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// platforms reports the build of each platform of spec.platforms, in the same order.
	//
	// +optional
	// +listType=map
	// +listMapKey=platform
	Platforms []PlatformStatus `json:"platforms,omitempty"`

	// platformsReady counts the platforms built so far against those asked for, as "1/2"; empty for
	// builds without spec.platforms.
	//
	// +optional
	PlatformsReady string `json:"platformsReady,omitempty"`

	// failureLog keeps the last lines of a failed build's own output, read from the log of the
	// build pod whose failure ended the build, so that `kubectl describe imagebuild` still shows
	// them after the pod is gone. Set only when the build failed after Kaniko ran.
	//
	// +optional
	FailureLog *FailureLog `json:"failureLog,omitempty"`

	// output describes the pushed image. Set only when a build with spec.push succeeded.
	//
	// +optional
	Output *BuildOutput `json:"output,omitempty"`

	// source records what was actually built.
	//
	// +optional
	Source *SourceStatus `json:"source,omitempty"`

	// inputKey is the build's input key, `sha256:<64 hex digits>`, computed by the operator
	// before any pod (see spec.cache): equal keys build equal images. Empty when the build could
	// not compute it (a git source, spec.push false, spec.cache.disabled, a registry or base image
	// that could not be reached); such a build simply runs.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=71
	InputKey string `json:"inputKey,omitempty"`

	// userNamespace says whether the build pod of the current attempt ran in a Linux user namespace,
	// where root, the user Kaniko builds as, is an unprivileged user of the node. It is what the pod
	// itself found, not what was asked for: a node whose runtime ignores hostUsers still runs the pod.
	// For a build with spec.platforms it sums up the platforms' pods (active once all of them ran in
	// one, not active as soon as one did not); each one's details are in platforms[].userNamespace.
	//
	// +optional
	UserNamespace *UserNamespaceStatus `json:"userNamespace,omitempty"`
}

// UserNamespaceStatus is what the build pod found out about its user namespace. All containers of a
// pod share one user namespace, so the report of its first init container holds for Kaniko too.
type UserNamespaceStatus struct {
	// requested is true when the build pod asked for a user namespace of its own (hostUsers: false),
	// which the operator does unless it runs with --user-namespaces=false (Helm value
	// userNamespaces: false).
	Requested bool `json:"requested"`

	// active is true when the build pod ran in a user namespace in which root is an unprivileged
	// user of the node, and false when root in the build pod was root on the node. The pod's first
	// init container reads /proc/self/uid_map and reports it; unset until it has. A build that
	// requested a user namespace and reports false also gets a Warning event, reason NoUserNamespace.
	//
	// +optional
	Active *bool `json:"active,omitempty"`

	// hostUID is the node's UID for root in the build pod: the user Kaniko ran as on the node.
	// 0 is the node's root.
	//
	// +optional
	HostUID *int64 `json:"hostUID,omitempty"`

	// uidMap is the build pod's UID mapping as the kernel showed it: "inside outside count" ranges,
	// separated by commas. "0 3497590784 65536" maps the pod's UIDs 0 to 65535 to the node's UIDs
	// from 3497590784; "0 0 4294967295" is the node's own mapping, no user namespace. A base image
	// file owned by a UID outside the mapped range cannot be unpacked.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	UIDMap string `json:"uidMap,omitempty"`
}

// PlatformStatus is the build of one platform of spec.platforms.
type PlatformStatus struct {
	// platform as written in spec.platforms, `linux/arm64`.
	Platform string `json:"platform"`

	// phase is Pending (waiting for a build slot), Building, Succeeded or Failed.
	//
	// +optional
	Phase BuildPhase `json:"phase,omitempty"`

	// podName is the pod of the current attempt; `kubectl logs <podName> -c kaniko` shows the
	// platform's build log.
	//
	// +optional
	PodName string `json:"podName,omitempty"`

	// attempts counts the pods created for this platform in this generation. It grows only when a
	// pod is lost before it finished.
	//
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// emulated is true when the platform is built under emulation (binfmt_misc and QEMU) on a node
	// of another architecture, because no node of its own architecture is available. Its RUN
	// steps take several times longer than on a native node.
	//
	// +optional
	Emulated bool `json:"emulated,omitempty"`

	// digest is the digest of the platform's image manifest, pushed by digest only
	// (`<spec.image>@<digest>`); the image index lists it.
	//
	// +optional
	Digest string `json:"digest,omitempty"`

	// reason is why the platform waits or failed, from the vocabulary of the Ready condition.
	//
	// +optional
	Reason string `json:"reason,omitempty"`

	// message says what happened to the platform and, when it failed, what to do.
	//
	// +optional
	Message string `json:"message,omitempty"`

	// userNamespace is what the platform's pod reported about its user namespace.
	//
	// +optional
	UserNamespace *UserNamespaceStatus `json:"userNamespace,omitempty"`
}

// The bounds of status.failureLog.tail, which the operator keeps and the CRD's schema enforces
// (the markers on FailureLog.Tail repeat the first two; a test keeps them equal).
const (
	// FailureLogMaxLines is the most lines the tail keeps.
	FailureLogMaxLines = 20
	// FailureLogMaxLineBytes is the longest a line of the tail may be; longer lines are cut.
	FailureLogMaxLineBytes = 512
	// FailureLogMaxBytes bounds the lines of the tail together; older lines give way.
	FailureLogMaxBytes = 4096
)

// FailureLog is the end of a failed build pod's output.
type FailureLog struct {
	// pod is the build pod the lines were read from (`kubectl logs <pod> -c kaniko` shows the
	// whole log while the pod exists).
	Pod string `json:"pod"`

	// platform is the platform that pod built, for builds with spec.platforms.
	//
	// +optional
	Platform string `json:"platform,omitempty"`

	// tail are the last lines of the output of the Dockerfile step that ran last (the one that
	// failed), oldest first: the step itself when it fits, what it printed, and Kaniko's error.
	// They are the lines `flow build` shows under its ✗ line. Kaniko's informational records are
	// left out, and credentials are replaced by REDACTED. At most 20 lines of at most 512 bytes
	// each (a longer line is cut and ends in "..."), and 4096 bytes in all (older lines give way).
	//
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=512
	Tail []string `json:"tail"`
}

// BuildOutput is the image a successful build produced.
type BuildOutput struct {
	// image is the repository with the primary tag, `ghcr.io/org/app:v1.2.0`.
	Image string `json:"image"`

	// digest is the manifest digest the registry holds, `sha256:<64 hex digits>`: for a build
	// with spec.platforms, the digest of the OCI image index that lists every platform's image.
	Digest string `json:"digest"`

	// shortDigest is the first 12 hex digits of the digest, for `kubectl get` columns.
	ShortDigest string `json:"shortDigest"`

	// imageRef pins the image by digest, `ghcr.io/org/app@sha256:...`: use it in deployments.
	ImageRef string `json:"imageRef"`

	// tags are the tags that point at the digest.
	//
	// +listType=atomic
	Tags []string `json:"tags"`

	// platforms are the platforms the image index holds, in spec.platforms order; empty for a
	// single image built without spec.platforms.
	//
	// +optional
	// +listType=atomic
	Platforms []string `json:"platforms,omitempty"`
}

// SourceStatus records what was actually built.
type SourceStatus struct {
	// bundleDigest is the digest of the source bundle, for bundle sources.
	//
	// +optional
	BundleDigest string `json:"bundleDigest,omitempty"`

	// gitRevision is the revision asked for (spec.source.git.revision), for git sources.
	//
	// +optional
	GitRevision string `json:"gitRevision,omitempty"`

	// gitCommit is the full SHA of the commit built, for git sources: the pinned revision, or the
	// commit the branch or tag named when the build pod resolved it, just before Kaniko cloned it
	// (with spec.platforms, the first platform pod to report).
	// Empty while the pod has not reported it.
	//
	// +optional
	GitCommit string `json:"gitCommit,omitempty"`
}

// ImageBuild builds one container image inside the cluster with Kaniko and pushes it to one
// repository under one or more tags. `flow build` creates one per service; GitOps tools can apply them
// directly. The pushed digest appears in status.output.digest.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ib,categories=fleetflow
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.metadata.labels.fleetflow\.dev/service`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Tag",type=string,JSONPath=`.spec.tags[0]`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Platforms",type=string,JSONPath=`.status.platformsReady`
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=`.status.output.shortDigest`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="UserNS",type=boolean,JSONPath=`.status.userNamespace.active`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ImageBuild struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	//
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired build.
	//
	// +required
	Spec ImageBuildSpec `json:"spec"`

	// status is the observed state of the build of the current generation.
	//
	// +optional
	Status ImageBuildStatus `json:"status,omitempty"`
}

// ImageBuildList is a list of ImageBuilds.
//
// +kubebuilder:object:root=true
type ImageBuildList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageBuild `json:"items"`
}
