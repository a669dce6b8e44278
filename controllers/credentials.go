package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// forwardedSecretWait is how long a build marked AnnotationForwardedPushSecret waits for the
// Secret that `flow build` creates right after it, before it fails: the CLI creates it within
// a second, so minutes mean that the CLI was interrupted.
const forwardedSecretWait = 2 * time.Minute

// checkPushSecret makes sure the referenced docker-config Secret exists, has the right shape and
// may serve this build before a pod is created: a pod with a missing Secret volume would sit in
// ContainerCreating with an error only `kubectl describe pod` shows.
func (r *ImageBuildReconciler) checkPushSecret(ctx context.Context, ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	if ib.Spec.PushSecretRef == nil || started(ib) {
		return ctrl.Result{}, false, nil
	}
	name := ib.Spec.PushSecretRef.Name
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: name}, secret)
	switch {
	case apierrors.IsNotFound(err) && forwarded(ib):
		return r.waitForForwardedSecret(ib)
	case apierrors.IsNotFound(err):
		setStalled(ib, buildv1.ReasonSecretNotFound, fmt.Sprintf(
			"push Secret %s/%s does not exist; create it with `kubectl create secret docker-registry %s -n %s "+
				"--docker-server=<registry> --docker-username=<user> --docker-password=<password>`; "+
				"the build starts as soon as it exists", ib.Namespace, name, name, ib.Namespace))
		// The Secret watch wakes this build when the Secret appears.
		return ctrl.Result{}, true, nil
	case err != nil:
		return ctrl.Result{}, true, fmt.Errorf("reading push Secret %s/%s: %w", ib.Namespace, name, err)
	}
	if ephemeral(secret) && !metav1.IsControlledBy(secret, ib) {
		// Forwarded credentials are somebody's own registry login, lent to one build. Anybody who
		// may create ImageBuilds here could otherwise name the Secret and push with it.
		owner := "another build"
		if ref := metav1.GetControllerOf(secret); ref != nil {
			owner = "ImageBuild " + ref.Name
		}
		setFailed(ib, buildv1.ReasonInvalidSpec, fmt.Sprintf(
			"push Secret %s/%s holds credentials that flow build forwarded for %s, and serves only that build; "+
				"name a Secret of your own in spec.pushSecretRef (kubectl create secret docker-registry NAME -n %s ...)",
			ib.Namespace, name, owner, ib.Namespace))
		return ctrl.Result{}, true, nil
	}
	if secret.Type != corev1.SecretTypeDockerConfigJson || len(secret.Data[corev1.DockerConfigJsonKey]) == 0 {
		setFailed(ib, buildv1.ReasonInvalidSpec, fmt.Sprintf(
			"push Secret %s/%s must be of type %s with a %s key (it is of type %q); recreate it with "+
				"`kubectl create secret docker-registry %s ...`",
			ib.Namespace, name, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, secret.Type, name))
		return ctrl.Result{}, true, nil
	}
	return ctrl.Result{}, false, nil
}

// checkGitSecret makes sure the Secret of spec.source.git.secretRef exists, is a basic-auth
// Secret with both keys and may serve this build before a pod is created: the pod takes the keys
// as environment variables, and a missing one would leave it in CreateContainerConfigError, which
// only `kubectl describe pod` shows.
func (r *ImageBuildReconciler) checkGitSecret(ctx context.Context, ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	g := ib.Spec.Source.Git
	if g == nil || g.SecretRef == nil || started(ib) {
		return ctrl.Result{}, false, nil
	}
	name := g.SecretRef.Name
	secret := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: name}, secret)
	switch {
	case apierrors.IsNotFound(err) && ib.Annotations[buildv1.AnnotationForwardedGitSecret] == "true":
		wait := ib.CreationTimestamp.Add(forwardedSecretWait).Sub(r.Clock.Now())
		if ib.Generation > 1 || wait <= 0 {
			setFailed(ib, buildv1.ReasonSecretNotFound, fmt.Sprintf(
				"git credentials Secret %s/%s, which flow build forwards for one build, is gone or never arrived; run flow build again, "+
					"or name a kubernetes.io/basic-auth Secret of your own in spec.source.git.secretRef", ib.Namespace, name))
			return ctrl.Result{}, true, nil
		}
		setInProgress(ib, buildv1.PhasePending, buildv1.ReasonPending, fmt.Sprintf(
			"waiting for git credentials Secret %s/%s, which flow build forwards right after it creates the build", ib.Namespace, name))
		return ctrl.Result{RequeueAfter: wait}, true, nil
	case apierrors.IsNotFound(err):
		setStalled(ib, buildv1.ReasonSecretNotFound, fmt.Sprintf(
			"git credentials Secret %s/%s (spec.source.git.secretRef) does not exist; create it with `kubectl create secret generic %s -n %s "+
				"--type=kubernetes.io/basic-auth --from-literal=username=<user> --from-literal=password=<access token>`; "+
				"the build starts as soon as it exists", ib.Namespace, name, name, ib.Namespace))
		return ctrl.Result{}, true, nil
	case err != nil:
		return ctrl.Result{}, true, fmt.Errorf("reading git credentials Secret %s/%s: %w", ib.Namespace, name, err)
	}
	if ephemeral(secret) && !metav1.IsControlledBy(secret, ib) {
		setFailed(ib, buildv1.ReasonInvalidSpec, fmt.Sprintf(
			"git credentials Secret %s/%s holds credentials that flow build forwarded for another build, and serves only that build; "+
				"name a Secret of your own in spec.source.git.secretRef", ib.Namespace, name))
		return ctrl.Result{}, true, nil
	}
	if secret.Type != corev1.SecretTypeBasicAuth || len(secret.Data[corev1.BasicAuthUsernameKey]) == 0 || len(secret.Data[corev1.BasicAuthPasswordKey]) == 0 {
		setFailed(ib, buildv1.ReasonInvalidSpec, fmt.Sprintf(
			"git credentials Secret %s/%s must be of type %s with the keys %s and %s (it is of type %q); recreate it with "+
				"`kubectl create secret generic %s --type=kubernetes.io/basic-auth --from-literal=username=<user> --from-literal=password=<access token>`",
			ib.Namespace, name, corev1.SecretTypeBasicAuth, corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey, secret.Type, name))
		return ctrl.Result{}, true, nil
	}
	return ctrl.Result{}, false, nil
}

// waitForForwardedSecret handles a build whose forwarded Secret is not there: `flow build` creates
// it right after the build, so at first the build simply waits for it; a Secret that never comes
// means the CLI was interrupted, and one that is gone on a later generation was deleted when an
// earlier generation finished.
func (r *ImageBuildReconciler) waitForForwardedSecret(ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	name := ib.Spec.PushSecretRef.Name
	if ib.Generation > 1 {
		setFailed(ib, buildv1.ReasonSecretNotFound, fmt.Sprintf(
			"push Secret %s/%s held credentials that flow build forwarded for one build, and it was deleted when that build ended; "+
				"to build the changed spec, run flow build again, or name a Secret of your own in spec.pushSecretRef",
			ib.Namespace, name))
		return ctrl.Result{}, true, nil
	}
	wait := ib.CreationTimestamp.Add(forwardedSecretWait).Sub(r.Clock.Now())
	if wait <= 0 {
		setFailed(ib, buildv1.ReasonSecretNotFound, fmt.Sprintf(
			"push Secret %s/%s, which flow build forwards right after it creates the build, did not arrive within %s: "+
				"the flow build that created this ImageBuild was interrupted; run it again",
			ib.Namespace, name, forwardedSecretWait))
		return ctrl.Result{}, true, nil
	}
	setInProgress(ib, buildv1.PhasePending, buildv1.ReasonPending, fmt.Sprintf(
		"waiting for push Secret %s/%s, which flow build forwards right after it creates the build", ib.Namespace, name))
	// The Secret watch wakes this build when the Secret appears; the requeue ends the wait.
	return ctrl.Result{RequeueAfter: wait}, true, nil
}

// pushSecretGone reports whether the push Secret of a build in flight was deleted. It asks the
// metadata cache first and the API server only to confirm a deletion, since the cache may not
// have seen a Secret created moments ago.
func (r *ImageBuildReconciler) pushSecretGone(ctx context.Context, ib *buildv1.ImageBuild) (bool, error) {
	if ib.Spec.PushSecretRef == nil {
		return false, nil
	}
	key := client.ObjectKey{Namespace: ib.Namespace, Name: ib.Spec.PushSecretRef.Name}
	for _, reader := range []client.Reader{r.metadata(), r.APIReader} {
		err := reader.Get(ctx, key, secretMetadata())
		switch {
		case err == nil:
			return false, nil
		case !apierrors.IsNotFound(err):
			return false, fmt.Errorf("reading push Secret %s: %w", key, err)
		}
	}
	return true, nil
}

// dropForwardedSecret deletes the push and git Secrets that `flow build` forwarded for this build only.
// The owner reference would remove it with the ImageBuild anyway; deleting it at once keeps
// credentials in the cluster for minutes rather than until the TTL.
func (r *ImageBuildReconciler) dropForwardedSecret(ctx context.Context, ib *buildv1.ImageBuild) error {
	var names []string
	if ib.Spec.PushSecretRef != nil {
		names = append(names, ib.Spec.PushSecretRef.Name)
	}
	if g := ib.Spec.Source.Git; g != nil && g.SecretRef != nil {
		names = append(names, g.SecretRef.Name)
	}
	for _, name := range names {
		secret := secretMetadata()
		key := client.ObjectKey{Namespace: ib.Namespace, Name: name}
		if err := r.metadata().Get(ctx, key, secret); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return err
			}
			continue
		}
		if !ephemeral(secret) || !metav1.IsControlledBy(secret, ib) {
			continue
		}
		if err := r.Delete(ctx, secret, client.Preconditions{UID: &secret.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting forwarded Secret %s: %w", key, err)
		}
	}
	return nil
}

// checkServiceAccount lets a build run as spec.serviceAccountName only when that account is
// annotated AnnotationAllowImageBuilds. A build runs the Dockerfile's commands as root beside the
// account's token; without this consent, permission to create ImageBuilds would be permission
// to act as any service account of the namespace.
func (r *ImageBuildReconciler) checkServiceAccount(ctx context.Context, ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	name := ib.Spec.ServiceAccountName
	if name == "" || ib.Status.PodName != "" {
		return ctrl.Result{}, false, nil
	}
	sa := &metav1.PartialObjectMetadata{}
	sa.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ServiceAccount"))
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: name}, sa)
	annotate := fmt.Sprintf("kubectl annotate serviceaccount %s -n %s %s=true", name, ib.Namespace, buildv1.AnnotationAllowImageBuilds)
	switch {
	case apierrors.IsNotFound(err):
		setStalled(ib, buildv1.ReasonServiceAccountNotAllowed, fmt.Sprintf(
			"service account %s/%s does not exist; create it, allow image builds to use it (%s), and the build starts",
			ib.Namespace, name, annotate))
		return ctrl.Result{}, true, nil
	case err != nil:
		return ctrl.Result{}, true, fmt.Errorf("reading service account %s/%s: %w", ib.Namespace, name, err)
	case sa.GetAnnotations()[buildv1.AnnotationAllowImageBuilds] != "true":
		setStalled(ib, buildv1.ReasonServiceAccountNotAllowed, fmt.Sprintf(
			"service account %s/%s is not allowed for image builds: the build would run the Dockerfile's commands as root with its token, "+
				"lending its permissions to everybody who may create ImageBuilds in %s. If that is intended, run `%s`; the build starts as soon as it is allowed",
			ib.Namespace, name, ib.Namespace, annotate))
		return ctrl.Result{}, true, nil
	}
	return ctrl.Result{}, false, nil
}

func (r *ImageBuildReconciler) metadata() client.Reader {
	if r.Metadata != nil {
		return r.Metadata
	}
	return r.APIReader
}

func secretMetadata() *metav1.PartialObjectMetadata {
	s := &metav1.PartialObjectMetadata{}
	s.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return s
}

// ephemeral reports whether a Secret is one that `flow build` forwarded for a single build.
func ephemeral(secret metav1.Object) bool {
	return secret.GetAnnotations()[buildv1.AnnotationEphemeralSecret] == "true"
}

// forwarded reports whether `flow build` forwards this build's push Secret after creating it.
func forwarded(ib *buildv1.ImageBuild) bool {
	return ib.Annotations[buildv1.AnnotationForwardedPushSecret] == "true"
}
