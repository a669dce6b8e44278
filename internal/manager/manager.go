// Package manager wires the flow-build controllers into a controller-runtime manager: the
// manager's flags, its cache (build pods only, Secrets and ServiceAccounts by metadata only) and
// both reconcilers.
package manager

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/controllers"
	"github.com/fleetflow/flow-build/internal/buildpod"
	"github.com/fleetflow/flow-build/internal/platform"
	"github.com/fleetflow/flow-build/internal/scheme"
)

// Options are the manager's settings, one flag each.
type Options struct {
	MetricsAddr             string
	ProbeAddr               string
	LeaderElection          bool
	LeaderElectionNamespace string
	ExecutorImage           string
	FetcherImage            string
	PullPolicy              string
	MaxConcurrentBuilds     int
	MaxConcurrentReconciles int
	MaxAttempts             int
	PushRetry               int
	ImageDownloadRetry      int
	ImagePullTimeout        time.Duration
	QPS                     float64
	Burst                   int
	// HostUsers runs build pods in the node's user namespace (--user-namespaces=false).
	HostUsers bool
	// Namespaces restricts the manager to these namespaces; empty watches the whole cluster.
	Namespaces []string
	// Emulation lets multi-platform builds use nodes labelled for emulating a platform.
	Emulation bool
	// ReadNodes lets the manager read nodes to place the platforms of multi-platform builds. A
	// namespace-scoped install may not: platforms are then placed from NativePlatforms and the
	// manager's own platform.
	ReadNodes bool
	// NativePlatforms are platforms whose nodes are provisioned on demand ("linux/arm64").
	NativePlatforms []string
	// RegistryTransport carries the operator's own registry traffic; nil means the default.
	RegistryTransport http.RoundTripper
	// SkipNameValidation lets one process run several managers, as tests that restart the manager do.
	SkipNameValidation bool
}

// Run parses the manager's flags and runs it until SIGTERM.
func Run(args []string) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	var o Options
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8080", "address the Prometheus metrics endpoint binds to; 0 disables it")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes bind to")
	fs.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader, so that only one of several replicas creates build pods")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's own)")
	fs.StringVar(&o.ExecutorImage, "executor-image", buildpod.DefaultExecutorImage, "Kaniko executor image run by every build")
	fs.StringVar(&o.FetcherImage, "fetcher-image", os.Getenv("FLOW_BUILD_IMAGE"), "image of the build pods' init container (fetch-source, userns-probe): this manager's own image (default $FLOW_BUILD_IMAGE)")
	fs.StringVar(&o.PullPolicy, "image-pull-policy", "", "pull policy of the build pods' images: Always, IfNotPresent or Never (default: Kubernetes' own)")
	fs.IntVar(&o.MaxConcurrentBuilds, "max-concurrent-builds", 10, "build pods allowed to run at once in the cluster; further builds wait in Pending (0: no cap)")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "ImageBuilds reconciled in parallel")
	fs.IntVar(&o.MaxAttempts, "max-attempts", 3, "build pods one generation may use when pods are lost (deleted, evicted)")
	fs.IntVar(&o.PushRetry, "push-retry", 2, "Kaniko --push-retry: retries of a failed push")
	fs.IntVar(&o.ImageDownloadRetry, "image-download-retry", 2, "Kaniko --image-download-retry: retries of a failed base image download")
	fs.DurationVar(&o.ImagePullTimeout, "image-pull-timeout", 2*time.Minute, "how long a build pod may fail to pull the executor or fetch-source image before the build fails with ImagePullFailed")
	userNamespaces := fs.Bool("user-namespaces", true, "run build pods in user namespaces of their own (hostUsers: false), where Kaniko's root is an unprivileged user of the node; "+
		"false only for nodes that cannot (Linux < 6.3, containerd < 2.0, CRI-O < 1.25, runc < 1.2): their builds then run as root on the node")
	fs.Float64Var(&o.QPS, "kube-api-qps", 50, "queries per second to the API server")
	fs.IntVar(&o.Burst, "kube-api-burst", 100, "burst of queries to the API server")
	fs.BoolVar(&o.ReadNodes, "read-nodes", true, "read nodes (cluster-wide) to see which platforms the cluster can build; false for a namespace-scoped install, which then builds the manager's own platform and the --native-platform ones only")
	fs.BoolVar(&o.Emulation, "emulation", false, "build a platform that no Ready node has natively on nodes labelled "+buildv1.EmulationLabelPrefix+"<os>-<arch>[-<variant>]=true (binfmt_misc emulation)")
	fs.Func("native-platform", "a platform (os/arch[/variant]) whose nodes the cluster provisions on demand, e.g. an autoscaled arm64 pool: its builds are scheduled even when no such node exists yet (repeatable)", func(v string) error {
		if _, err := platform.Parse(v); err != nil {
			return err
		}
		o.NativePlatforms = append(o.NativePlatforms, v)
		return nil
	})
	fs.Func("watch-namespace", "only reconcile ImageBuilds in this namespace (repeatable; default: all namespaces)", func(v string) error {
		o.Namespaces = append(o.Namespaces, v)
		return nil
	})
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.HostUsers = !*userNamespaces
	if o.FetcherImage == "" {
		return errors.New("--fetcher-image is required (the manager's own image, which runs fetch-source in build pods); the Helm chart sets it")
	}
	switch corev1.PullPolicy(o.PullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("--image-pull-policy %q: use Always, IfNotPresent or Never", o.PullPolicy)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the Kubernetes client configuration: %w", err)
	}
	mgr, err := New(cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// New builds a manager with both controllers registered. Tests use it to run the real manager
// in-process against envtest.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	if o.QPS > 0 {
		cfg.QPS, cfg.Burst = float32(o.QPS), o.Burst
	}
	native, err := platform.ParseList(o.NativePlatforms)
	if err != nil {
		return nil, fmt.Errorf("--native-platform: %w", err)
	}
	var namespaces map[string]cache.Config
	for _, ns := range o.Namespaces {
		if namespaces == nil {
			namespaces = map[string]cache.Config{}
		}
		namespaces[ns] = cache.Config{}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElection,
		LeaderElectionID:        "flow-build-manager.build.fleetflow.dev",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// Pods are cached only when they are build pods: the manager never holds every pod of a
		// large cluster in memory.
		Cache: cache.Options{
			DefaultNamespaces: namespaces,
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Pod{}: {Label: labels.SelectorFromSet(labels.Set{buildv1.LabelManagedBy: buildv1.ManagedByValue})},
				// Nodes are read to place the platforms of multi-platform builds: labels, taints
				// and conditions. The image lists and volumes of large nodes are left out.
				&corev1.Node{}: {Transform: slimNode},
			},
		},
		Controller: config.Controller{SkipNameValidation: &o.SkipNameValidation},
		// Secrets are read only through the API reader, so their data never enters the cache.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the controller manager: %w", err)
	}
	clientset, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	build := &controllers.ImageBuildReconciler{
		PodLogs:   podLogs(clientset),
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("flow-build"),
		PodOptions: buildpod.Options{
			ExecutorImage:      o.ExecutorImage,
			FetcherImage:       o.FetcherImage,
			PullPolicy:         corev1.PullPolicy(o.PullPolicy),
			PushRetry:          o.PushRetry,
			ImageDownloadRetry: o.ImageDownloadRetry,
			HostUsers:          o.HostUsers,
		},
		MaxConcurrentBuilds:     o.MaxConcurrentBuilds,
		MaxAttempts:             int32(o.MaxAttempts),
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		ImagePullTimeout:        o.ImagePullTimeout,
		// The cache answers metadata reads of Secrets and ServiceAccounts from the metadata-only
		// informers the controller's watches start; it never holds Secret data.
		Metadata:          mgr.GetCache(),
		Emulation:         o.Emulation,
		NodeReader:        nodeReader(mgr, o.ReadNodes),
		NativePlatforms:   native,
		RegistryTransport: o.RegistryTransport,
	}
	if err := build.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the build controller: %w", err)
	}
	if err := (&controllers.RetentionReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the retention controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// nodeReader is where the build controller reads nodes: the manager's cache, or nothing when it
// may not read them.
func nodeReader(mgr ctrl.Manager, read bool) client.Reader {
	if !read {
		return nil
	}
	return mgr.GetClient()
}

// slimNode keeps of a Node what placing builds needs: metadata without managed fields, spec,
// and the conditions.
func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	n.ManagedFields = nil
	n.Status = corev1.NodeStatus{Conditions: n.Status.Conditions, NodeInfo: corev1.NodeSystemInfo{Architecture: n.Status.NodeInfo.Architecture, OperatingSystem: n.Status.NodeInfo.OperatingSystem}}
	return n, nil
}

// podLogs reads the end of a build container's log: its last buildpod.LogTailLines lines, of which
// at most the last buildpod.LogTailBytes are kept, so that a chatty build or a line of megabytes
// cannot make the manager hold more for one failure.
func podLogs(cs kubernetes.Interface) func(ctx context.Context, namespace, pod, container string) (string, error) {
	return func(ctx context.Context, namespace, pod, container string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		stream, err := cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
			Container: container, TailLines: ptr.To[int64](buildpod.LogTailLines),
		}).Stream(ctx)
		if err != nil {
			return "", err
		}
		defer func() { _ = stream.Close() }() // read-only: Close cannot lose data
		// The last bytes, not LimitBytes' first ones: Kaniko's verdict and the failing step's
		// output are at the end.
		end := &lastBytes{max: buildpod.LogTailBytes}
		_, err = io.Copy(end, stream)
		return end.String(), err
	}
}

// lastBytes keeps the last max bytes written to it.
type lastBytes struct {
	max int
	buf []byte
	cut bool
}

func (b *lastBytes) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
		b.cut = true
	}
	return len(p), nil
}

// String is what was kept, from the first whole line on when the beginning was cut: half a line
// could be half a credential that redaction no longer recognises.
func (b *lastBytes) String() string {
	s := b.buf
	if len(s) > b.max {
		s, b.cut = s[len(s)-b.max:], true
	}
	if b.cut {
		if i := bytes.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		} else {
			s = nil
		}
	}
	return string(s)
}
