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
)

// AnnotationEphemeralSecret marks, with the value "true", a push Secret that `flow build` created
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
