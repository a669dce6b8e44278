package v1alpha1

// The labels and annotations that the CLI, the controller and people share. They live in the API
// package so that every part names them the same way without importing another part.

// Labels the flow CLI puts on every ImageBuild, so that a stage's builds can be listed with
// `kubectl get imagebuilds -l fleetflow.dev/stage=prod`. Build pods carry them too.
const (
	LabelProject = "fleetflow.dev/project"
	LabelStage   = "fleetflow.dev/stage"
	LabelService = "fleetflow.dev/service"

	// LabelRun groups the ImageBuilds (and forwarded push Secrets) of one `flow build` invocation,
	// so that the CLI watches exactly its own builds and a person can follow them with
	// `kubectl get ib -l build.fleetflow.dev/run=...`.
	LabelRun = "build.fleetflow.dev/run"
)

// Labels on build pods.
const (
	// LabelManagedBy marks every build pod, so that the manager's cache and the concurrency cap
	// select exactly the manager's own pods.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on build pods.
	ManagedByValue = "flow-build"
	// LabelImageBuild holds the owning ImageBuild's name (cut and hashed when longer than a label
	// value may be), for `kubectl get pods -l build.fleetflow.dev/image-build=<name>`.
	LabelImageBuild = "build.fleetflow.dev/image-build"
	// LabelGeneration holds the ImageBuild's metadata.generation the pod builds.
	LabelGeneration = "build.fleetflow.dev/generation"
	// LabelAttempt holds the attempt number (1, 2, ...) of the pod within its generation.
	LabelAttempt = "build.fleetflow.dev/attempt"
	// LabelPlatform holds, on the pods of a build with spec.platforms, the platform the pod builds
	// in label form: `linux-arm64` for linux/arm64, `linux-arm-v7` for linux/arm/v7.
	LabelPlatform = "build.fleetflow.dev/platform"
)

// EmulationLabelPrefix starts the node labels that say a node can run the programs of another
// platform under emulation (binfmt_misc handlers, usually QEMU, registered with the F flag):
// `emulation.build.fleetflow.dev/linux-arm64: "true"`. One label per platform, because a label
// value can hold neither commas nor slashes. The operator builds a platform under emulation only
// on nodes so labelled, only when no Ready node of that architecture exists, and only when
// emulation is enabled (Helm value emulation.enabled).
const EmulationLabelPrefix = "emulation.build.fleetflow.dev/"

// AnnotationEphemeralSecret marks, with the value "true", a push or git Secret that `flow build` created
// for one build from the user's local credentials and made that build its controller. Such a
// Secret serves only that build: the controller refuses to mount it into any other ImageBuild, and
// deletes it as soon as its build finishes, so the credentials live in the cluster no longer than
// needed.
const AnnotationEphemeralSecret = "build.fleetflow.dev/ephemeral"

// AnnotationForwardedPushSecret marks, with the value "true", an ImageBuild whose push Secret
// `flow build` forwards right after creating the build (the Secret is created second, so that it
// has its owner from its first moment). The controller waits quietly for such a Secret for two
// minutes, and then fails the build with SecretNotFound: the `flow build` that was to create it
// was interrupted.
const AnnotationForwardedPushSecret = "build.fleetflow.dev/forwarded-push-secret"

// AnnotationForwardedGitSecret marks, with the value "true", an ImageBuild whose git credentials
// Secret (spec.source.git.secretRef) `flow build --git-credentials=forward` creates right after
// the build, from the user's local git credentials; the controller waits for it as for a
// forwarded push Secret.
const AnnotationForwardedGitSecret = "build.fleetflow.dev/forwarded-git-secret"

// AnnotationAllowImageBuilds on a ServiceAccount, with the value "true", lets ImageBuilds of its
// namespace run their build pods as that service account (spec.serviceAccountName), with its
// token mounted. Without it the controller refuses: a build runs the Dockerfile's commands as
// root, so naming a service account hands its permissions to everybody who may create
// ImageBuilds in the namespace. Whoever may annotate the service account decides.
const AnnotationAllowImageBuilds = "build.fleetflow.dev/allow-image-builds"

// TagPattern is the grammar of one tag in spec.tags: 1 to 128 letters, digits, '_', '.' and '-',
// not starting with '.' or '-' (Docker's tag grammar). The validation marker on
// ImageBuildSpec.Tags repeats it literally, since markers cannot name a constant; a test keeps the
// generated CRD and this constant equal.
const TagPattern = `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`

// PlatformPattern is the grammar of one platform in spec.platforms: Linux (Kaniko builds nothing
// else), one of Go's Linux architectures, and an optional variant v<N>. The validation rule on
// ImageBuildSpec.Platforms repeats it literally; a test keeps the generated CRD and this constant
// equal.
const PlatformPattern = `^linux/(386|amd64|arm|arm64|loong64|mips|mipsle|mips64|mips64le|ppc64|ppc64le|riscv64|s390x)(/v[0-9]+)?$`
