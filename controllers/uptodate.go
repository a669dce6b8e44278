package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/buildrecord"
	"github.com/fleetflow/flow-build/internal/dockerfile"
	"github.com/fleetflow/flow-build/internal/inputkey"
	"github.com/fleetflow/flow-build/internal/platform"
)

// An unchanged build needs no pod: before the first pod of a generation, reuseUnchanged computes
// the build's input key (package inputkey) and looks for the record of an image built from the
// same key (package buildrecord). When that image is still in spec.image, spec.tags are pointed
// at it and the build succeeds with reason UpToDate. Anything that keeps the operator from
// deciding (a registry it cannot reach or that refuses it, a base image it cannot resolve, a
// Dockerfile it cannot read) only means that the build runs, which reports such problems in its
// own terms. Once a build has pushed, recordInputKey writes the record for the next one.

const (
	// reuseTimeout bounds the registry calls that decide whether a build is up to date; a
	// registry slower than that gets the build it would have had without the check.
	reuseTimeout = 20 * time.Second

	// recordTimeout bounds writing a build record after a build.
	recordTimeout = 20 * time.Second

	// dockerfileCacheSize bounds the Dockerfiles kept in memory by bundle digest.
	dockerfileCacheSize = 512
)

// dockerfileCache keeps the Dockerfiles read from source bundles, by bundle digest and path: a
// bundle never changes under its digest, so an entry is never stale, and an unchanged re-run
// does not read the bundle again.
type dockerfileCache struct {
	mu      sync.Mutex
	entries map[string][]byte
	order   []string
}

func (c *dockerfileCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, ok := c.entries[key]
	return data, ok
}

func (c *dockerfileCache) put(key string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string][]byte{}
	}
	if _, ok := c.entries[key]; ok {
		return
	}
	if len(c.order) >= dockerfileCacheSize {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
	c.entries[key] = data
	c.order = append(c.order, key)
}

// decisions remembers, for a few minutes, what reuseUnchanged decided for a generation: a status
// patch refused because the cache lagged behind (conflictRecheck) drops the reconcile's
// conclusions, and the next reconcile would otherwise ask the registry all over again.
type decisions struct {
	mu      sync.Mutex
	entries map[decisionKey]decision
	order   []decisionKey
}

type decisionKey struct {
	uid        types.UID
	generation int64
}

// decision is an input key and, when the image was reused, the image.
type decision struct {
	key   string
	image *remote.Descriptor
	at    time.Time
}

// decisionTTL bounds how long a decision is remembered: long enough for a conflicting patch to be
// retried, short enough that a record or an image deleted since is noticed by a later resync.
const decisionTTL = time.Minute

func (d *decisions) get(k decisionKey, now time.Time) (decision, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.entries[k]
	if !ok || now.Sub(e.at) > decisionTTL {
		return decision{}, false
	}
	return e, true
}

func (d *decisions) put(k decisionKey, e decision) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries == nil {
		d.entries = map[decisionKey]decision{}
	}
	if _, ok := d.entries[k]; !ok {
		if len(d.order) >= dockerfileCacheSize {
			delete(d.entries, d.order[0])
			d.order = d.order[1:]
		}
		d.order = append(d.order, k)
	}
	d.entries[k] = e
}

// keyable reports whether the operator can compute the input key of ib and reuse an image for it.
func keyable(ib *buildv1.ImageBuild) bool {
	return ib.Spec.Push && ib.Spec.Source.Bundle != nil && (ib.Spec.Cache == nil || !ib.Spec.Cache.Disabled)
}

// reuseUnchanged ends a build whose image is already in the registry before any pod; see above.
func (r *ImageBuildReconciler) reuseUnchanged(ctx context.Context, ib *buildv1.ImageBuild) (ctrl.Result, bool, error) {
	if started(ib) || ib.Status.InputKey != "" || !keyable(ib) {
		return ctrl.Result{}, false, nil
	}
	logger := log.FromContext(ctx)
	memo := decisionKey{uid: ib.UID, generation: ib.Generation}
	if d, ok := r.decided.get(memo, r.Clock.Now()); ok {
		ib.Status.InputKey = d.key
		if d.image == nil {
			return ctrl.Result{}, false, nil
		}
		r.finishUpToDate(ib, d.image)
		return ctrl.Result{}, true, nil
	}
	opts, err := r.registryOptions(ctx, ib)
	if err != nil {
		logger.Info("not checking whether the image is up to date; building", "reason", err.Error())
		return ctrl.Result{}, false, nil
	}
	opts = reusingConnections(opts)
	cctx, cancel := context.WithTimeout(ctx, reuseTimeout)
	defer cancel()
	start := time.Now()
	key, err := r.inputKey(cctx, ib, opts)
	if bundleNotUploaded(err) {
		// flow build creates builds while it uploads their bundles. A bundle the registry does
		// not have yet is new, so no earlier build can have used it: the build runs at once, and
		// its key is computed once the bundle is there, for the record.
		r.keyLater.Store(lateKeyID(ib), true)
		logger.Info("the source bundle is not in the registry yet, so it is new: building; the input key follows once it is there")
		return ctrl.Result{}, false, nil
	}
	if err != nil {
		logger.Info("no input key; building", "reason", err.Error(), "took", time.Since(start).String())
		return ctrl.Result{}, false, nil
	}
	ib.Status.InputKey = key
	keyed := time.Since(start)
	desc, err := buildrecord.Lookup(cctx, buildpod.CacheRepository(&ib.Spec, nil), ib.Spec.Image, key, opts...)
	switch {
	case err != nil:
		logger.Info("could not look up the build record; building", "inputKey", key, "reason", err.Error())
		return ctrl.Result{}, false, nil
	case desc == nil:
		r.decided.put(memo, decision{key: key, at: r.Clock.Now()})
		logger.Info("no image built from the same inputs; building", "inputKey", key, "keyTook", keyed.String(), "took", time.Since(start).String())
		return ctrl.Result{}, false, nil
	case desc.MediaType.IsIndex() != hasPlatforms(ib):
		// The key holds the platforms, so this is a record that was tampered with or a digest
		// reused in a way the operator never writes.
		logger.Info("the build record names an image of the wrong kind; building", "inputKey", key, "digest", desc.Digest.String())
		return ctrl.Result{}, false, nil
	}
	if err := buildrecord.Tag(cctx, ib.Spec.Image, ib.Spec.Tags, desc, opts...); err != nil {
		logger.Info("could not tag the up-to-date image; building", "inputKey", key, "reason", err.Error())
		return ctrl.Result{}, false, nil
	}
	r.decided.put(memo, decision{key: key, image: desc, at: r.Clock.Now()})
	r.finishUpToDate(ib, desc)
	logger.Info("up to date: reused the image built from the same inputs", "inputKey", key, "digest", desc.Digest.String(),
		"keyTook", keyed.String(), "took", time.Since(start).String())
	return ctrl.Result{}, true, nil
}

// lateInputKey computes the input key of a build that started before its source bundle was in
// the registry (reuseUnchanged), as soon as one of its pods has fetched the bundle, or else when
// it has just succeeded, so that its build record serves the next build from the same inputs.
// Its base images are resolved then, as Kaniko resolves them: the same instant, give or take
// Kaniko's start, as for a build whose key is computed before its pod.
func (r *ImageBuildReconciler) lateInputKey(ctx context.Context, before, ib *buildv1.ImageBuild) {
	id := lateKeyID(ib)
	if _, ok := r.keyLater.Load(id); !ok {
		return
	}
	switch {
	case ib.Status.InputKey != "" || ib.Status.ObservedGeneration != ib.Generation || ib.Status.Phase.Finished() && ib.Status.Phase != buildv1.PhaseSucceeded:
		r.keyLater.Delete(id)
		return
	case ib.Status.Phase == buildv1.PhaseSucceeded:
		if before.Status.Phase == buildv1.PhaseSucceeded || readyReason(ib) != buildv1.ReasonSucceeded {
			r.keyLater.Delete(id)
			return
		}
	case !r.sourceFetched(ctx, ib):
		return
	}
	logger := log.FromContext(ctx)
	opts, err := r.registryOptions(ctx, ib)
	if err != nil {
		r.keyLater.Delete(id)
		logger.Info("no input key", "reason", err.Error())
		return
	}
	cctx, cancel := context.WithTimeout(ctx, reuseTimeout)
	defer cancel()
	key, err := r.inputKey(cctx, ib, opts)
	if err != nil {
		r.keyLater.Delete(id)
		logger.Info("no input key; the next build from the same inputs builds again", "reason", err.Error())
		return
	}
	// The entry stays until the key is seen in the status: a status patch refused as a conflict
	// (the cache behind the build's last change) drops it, and the next reconcile computes it again.
	ib.Status.InputKey = key
}

// sourceFetched reports whether a pod of ib has fetched its source bundle: its fetch-source
// container ended well.
func (r *ImageBuildReconciler) sourceFetched(ctx context.Context, ib *buildv1.ImageBuild) bool {
	names := []string{ib.Status.PodName}
	for _, ps := range ib.Status.Platforms {
		names = append(names, ps.PodName)
	}
	for _, n := range names {
		pod := &corev1.Pod{}
		if n == "" || r.Get(ctx, client.ObjectKey{Namespace: ib.Namespace, Name: n}, pod) != nil {
			continue
		}
		for _, cs := range pod.Status.InitContainerStatuses {
			if cs.Name == buildpod.FetchContainer && cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
				return true
			}
		}
	}
	return false
}

func lateKeyID(ib *buildv1.ImageBuild) string {
	return fmt.Sprintf("%s/%d", ib.UID, ib.Generation)
}

// bundleNotUploaded tells whether err is the registry saying it has no such source bundle
// manifest (or repository) yet.
func bundleNotUploaded(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound && te.Request != nil && strings.Contains(te.Request.URL.Path, "/manifests/")
}

// inputKey computes the input key of ib, resolving its base images in the registry now.
func (r *ImageBuildReconciler) inputKey(ctx context.Context, ib *buildv1.ImageBuild, opts []remote.Option) (string, error) {
	bundleRef := ib.Spec.Source.Bundle.Image
	_, bundleDigest, _ := strings.Cut(bundleRef, "@")
	path := buildpod.Dockerfile(&ib.Spec)
	cacheKey := bundleDigest + " " + path
	content, ok := r.dockerfiles.get(cacheKey)
	if !ok {
		var err error
		if content, err = buildrecord.Dockerfile(ctx, bundleRef, path, opts...); err != nil {
			return "", fmt.Errorf("reading %s from source bundle %s: %w", path, bundleRef, err)
		}
		r.dockerfiles.put(cacheKey, content)
	}
	d, err := dockerfile.Parse(content)
	if err != nil {
		return "", err
	}
	var platforms []*platform.Platform
	if hasPlatforms(ib) {
		list, invalid := parsePlatforms(ib)
		if invalid != "" {
			return "", errors.New(invalid)
		}
		for i := range list {
			platforms = append(platforms, &list[i])
		}
	} else {
		platforms = []*platform.Platform{nil}
	}
	copied, err := d.CopiedImages(ib.Spec.Target)
	if err != nil {
		return "", err
	}
	resolved := map[string]string{}
	in := inputkey.Inputs{
		BundleDigest:  bundleDigest,
		Dockerfile:    content,
		Target:        ib.Spec.Target,
		ExecutorImage: buildpod.ExecutorImage(r.PodOptions),
		Flags:         buildpod.OutputFlags(&ib.Spec, r.PodOptions),
	}
	for _, a := range ib.Spec.BuildArgs {
		in.BuildArgs = append(in.BuildArgs, inputkey.Arg{Name: a.Name, Value: a.Value})
	}
	for _, p := range platforms {
		images, err := d.BaseImages(ib.Spec.Target, buildpod.PlatformBuildArgs(&ib.Spec, p))
		if err != nil {
			return "", err
		}
		kp := inputkey.Platform{}
		if p != nil {
			kp.Platform = p.Normalize().String()
		}
		for _, image := range append(images, copied...) {
			digest, ok := resolved[image]
			if !ok {
				if digest, err = buildrecord.Resolve(ctx, image, opts...); err != nil {
					return "", fmt.Errorf("resolving base image %s: %w", image, err)
				}
				resolved[image] = digest
			}
			kp.Bases = append(kp.Bases, inputkey.Base{Image: image, Digest: digest})
		}
		in.Platforms = append(in.Platforms, kp)
	}
	return inputkey.Compute(in)
}

// finishUpToDate ends a build whose image desc was reused.
func (r *ImageBuildReconciler) finishUpToDate(ib *buildv1.ImageBuild, desc *remote.Descriptor) {
	now := metav1.NewTime(r.Clock.Now())
	ib.Status.CompletionTime = &now
	ib.Status.Source = sourceStatus(ib)
	ib.Status.Output = buildpod.Output(ib, desc.Digest.String())
	if hasPlatforms(ib) {
		ib.Status.Output.Platforms = append([]string(nil), ib.Spec.Platforms...)
		children := map[platform.Platform]string{}
		var idx v1.IndexManifest
		if err := json.Unmarshal(desc.Manifest, &idx); err == nil {
			for _, m := range idx.Manifests {
				if p, ok := platform.OfDescriptor(m.Platform); ok {
					children[p.Normalize()] = m.Digest.String()
				}
			}
		}
		ib.Status.Platforms = nil
		for _, s := range ib.Spec.Platforms {
			ps := buildv1.PlatformStatus{Platform: s, Phase: buildv1.PhaseSucceeded, Reason: buildv1.ReasonUpToDate,
				Message: "up to date: reused the image built earlier from the same inputs"}
			if p, err := platform.Parse(s); err == nil {
				ps.Digest = children[p.Normalize()]
			}
			ib.Status.Platforms = append(ib.Status.Platforms, ps)
		}
		ib.Status.PlatformsReady = platformsReady(ib)
	}
	setUpToDate(ib, fmt.Sprintf("up to date: %s was built earlier from the same inputs (input key %s) and is still in the registry; "+
		"tagged %s without building. To build anyway, use flow build --no-cache or set spec.cache.disabled",
		ib.Status.Output.ImageRef, ib.Status.InputKey, strings.Join(ib.Spec.Tags, ", ")))
	buildResults.WithLabelValues(string(buildv1.PhaseSucceeded), buildv1.ReasonUpToDate).Inc()
}

// recordInputKey writes the build record of a build that has just pushed its image, so that the
// next build from the same inputs reuses it. A record that cannot be written costs that next
// build, not this one.
func (r *ImageBuildReconciler) recordInputKey(ctx context.Context, before, ib *buildv1.ImageBuild) {
	if before.Status.Phase == buildv1.PhaseSucceeded || ib.Status.Phase != buildv1.PhaseSucceeded ||
		readyReason(ib) != buildv1.ReasonSucceeded || ib.Status.InputKey == "" || ib.Status.Output == nil || !keyable(ib) {
		return
	}
	logger := log.FromContext(ctx)
	opts, err := r.registryOptions(ctx, ib)
	if err != nil {
		logger.Info("could not write the build record", "inputKey", ib.Status.InputKey, "reason", err.Error())
		return
	}
	opts = reusingConnections(opts)
	cctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if err := buildrecord.Write(cctx, buildpod.CacheRepository(&ib.Spec, nil), ib.Spec.Image, ib.Status.InputKey, ib.Status.Output.Digest, opts...); err != nil {
		logger.Info("could not write the build record; the next build from the same inputs builds again", "inputKey", ib.Status.InputKey, "reason", err.Error())
	}
}

// reusingConnections makes the registry calls of one decision share their authentication per
// repository: without it, every call pings the registry and, on registries that hand out tokens,
// fetches a token of its own.
func reusingConnections(opts []remote.Option) []remote.Option {
	if puller, err := remote.NewPuller(opts...); err == nil {
		opts = append(opts, remote.Reuse(puller))
	}
	if pusher, err := remote.NewPusher(opts...); err == nil {
		opts = append(opts, remote.Reuse(pusher))
	}
	return opts
}
