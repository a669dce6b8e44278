package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
	"github.com/fleetflow/flow-build/internal/kubename"
	"github.com/fleetflow/flow-build/internal/registryauth"
	"github.com/fleetflow/flow-build/internal/scheme"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// kubeFlags are kubectl's connection flags, with kubectl's meaning.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

func (k *kubeFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	f.StringVar(&k.context, "context", "", "kubeconfig context to use")
	// No -n: in flow build, -n is FleetFlow's --service.
	f.StringVar(&k.namespace, "namespace", "", "Kubernetes namespace of the builds (default: the context's namespace); no short form, -n is --service")
}

// cluster is the connection to the cluster that runs the builds.
type cluster struct {
	client    client.WithWatch
	logs      logSource
	namespace string
	server    string
}

func (k *kubeFlags) connect(env Env) (*cluster, error) {
	cfg, ns := env.RESTConfig, k.namespace
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if kc := env.Getenv("KUBECONFIG"); kc != "" {
			rules.Precedence = filepath.SplitList(kc)
		}
		rules.ExplicitPath = k.kubeconfig
		loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{
			CurrentContext: k.context,
			Context:        clientcmdapi.Context{Namespace: k.namespace},
		})
		var err error
		if cfg, err = loader.ClientConfig(); err != nil {
			return nil, usererr.New(usererr.KindUnexpected, txt("no usable Kubernetes connection", "使える Kubernetes への接続がありません")).
				WithDetail(err.Error()).WithCause(err).
				WithRemedies(txt("point flow at a cluster with --kubeconfig, --context or KUBECONFIG, as for kubectl", "kubectl と同じく --kubeconfig、--context または KUBECONFIG でクラスターを指定してください"),
					txt("or render the ImageBuilds without a cluster: -o yaml", "またはクラスターなしで ImageBuild を出力してください: -o yaml"))
		}
		if ns == "" {
			if ns, _, err = loader.Namespace(); err != nil {
				return nil, usererr.New(usererr.KindUnexpected, txt("the namespace of the kubeconfig context cannot be read", "kubeconfig のコンテキストの namespace を読み込めません")).
					WithDetail(err.Error()).WithCause(err)
			}
		}
	}
	if ns == "" {
		ns = "default"
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("connecting to the Kubernetes API at %s: %w", cfg.Host, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the Kubernetes API at %s: %w", cfg.Host, err)
	}
	logs := env.logs
	if logs == nil {
		logs = apiLogs{cs}
	}
	return &cluster{client: c, logs: logs, namespace: ns, server: cfg.Host}, nil
}

// dryRun asks the API server to validate every ImageBuild (its schema, CEL rules, RBAC, the CRD being
// installed at all) before the CLI pushes anything, with a placeholder source digest.
func (c *cluster) dryRun(ctx context.Context, targets []*target, p manifestParams) error {
	if p.pushSecret != "" {
		err := c.client.Get(ctx, client.ObjectKey{Namespace: c.namespace, Name: p.pushSecret}, &corev1.Secret{})
		switch {
		case apierrors.IsNotFound(err):
			return usererr.New(usererr.KindConfig, txt("--push-secret %s: no such Secret in namespace %s", "--push-secret %s: namespace %s にその Secret はありません", p.pushSecret, c.namespace)).
				WithRemedies(txt("create it with kubectl create secret docker-registry %s -n %s --docker-server=<registry> --docker-username=<user> --docker-password=<password>",
					"kubectl create secret docker-registry %s -n %s --docker-server=<registry> --docker-username=<user> --docker-password=<password> で作成してください", p.pushSecret, c.namespace))
		case err != nil && !apierrors.IsForbidden(err):
			return c.explain(err, txt("reading Secret %s failed", "Secret %s の読み込みに失敗しました", p.pushSecret))
		}
	}
	for _, t := range targets {
		probe := *t
		if probe.git == nil {
			probe.bundleRef = probe.bundleRepo + "@sha256:" + strings.Repeat("0", 64)
		}
		if probe.dockerfile == "" {
			probe.dockerfile = "Dockerfile"
		}
		ib := imageBuild(&probe, p)
		if err := c.client.Create(ctx, ib, client.DryRunAll); err != nil {
			return c.explain(err, txt("checking the ImageBuild of %s failed", "%s の ImageBuild の確認に失敗しました", t.build.Service))
		}
	}
	return nil
}

// explain turns API errors into what to do about them. doing says what was being done, in both
// languages.
func (c *cluster) explain(err error, doing usererr.Text) error {
	e := usererr.New(usererr.KindUnexpected, doing).WithTarget(c.server).WithCause(err)
	switch {
	case meta.IsNoMatchError(err) || apierrors.IsNotFound(err):
		return e.WithReason(txt("the ImageBuild API is not installed in the cluster", "クラスターに ImageBuild API がインストールされていません")).
			WithRemedies(txt("install the operator: helm install flow-build charts/flow-build -n flow-build-system --create-namespace", "オペレーターをインストールしてください: helm install flow-build charts/flow-build -n flow-build-system --create-namespace"))
	case apierrors.IsForbidden(err):
		return e.WithReason(txt("you may not create ImageBuilds in namespace %s (%s)", "namespace %s で ImageBuild を作成する権限がありません（%s）", c.namespace, apierrors.ReasonForError(err))).
			WithRemedies(txt("ask for a Role granting create, get, list and watch on imagebuilds.build.fleetflow.dev, or choose another namespace with --namespace",
				"imagebuilds.build.fleetflow.dev の create、get、list、watch を許可する Role を依頼するか、--namespace で別の namespace を指定してください"))
	case apierrors.IsUnauthorized(err):
		return e.WithReason(txt("the cluster did not accept your credentials", "クラスターが認証情報を受け付けませんでした")).
			WithRemedies(txt("check your kubeconfig", "kubeconfig を確認してください"))
	}
	return e.WithDetail(err.Error())
}

// create creates the ImageBuilds of all targets, with a forwarded push Secret each when forward is
// set. Either all of them exist afterwards or, on error, none does; undo deletes them all again
// (when the upload of their sources fails).
//
// A forwarded Secret is created after its ImageBuild, with the build as its owner in the same
// create, so that no moment exists in which credentials sit in the cluster without an owner: if
// flow dies in between, the build waits a little for its Secret and then fails, and the garbage
// collector removes the Secret with the build in any case.
//
// gitCreds, when set, are the local git credentials by repository URL, forwarded the same way in a
// kubernetes.io/basic-auth Secret per git build.
func (c *cluster) create(ctx context.Context, targets []*target, p manifestParams, kc authn.Keychain, forward bool,
	gitCreds map[string]gitCredential) (builds []*buildv1.ImageBuild, undo func(), err error) {
	var created []client.Object
	rollback := func() {
		// A fresh context: the caller's may be the one that was cancelled.
		for i := len(created) - 1; i >= 0; i-- {
			_ = c.client.Delete(context.Background(), created[i], client.PropagationPolicy(metav1.DeletePropagationBackground))
		}
	}
	builds = make([]*buildv1.ImageBuild, 0, len(targets))
	for _, t := range targets {
		params := p
		var config []byte
		if forward {
			var err error
			if config, err = forwardedConfig(t, kc); err != nil {
				rollback()
				return nil, nil, err
			}
			if config != nil {
				params.pushSecret = forwardedSecretName(p.runID, t.build.Service)
				params.forwardedSecret = true
			}
		}
		gitCred, lendGit := gitCredential{}, false
		if t.git != nil && gitCreds != nil {
			gitCred, lendGit = gitCreds[t.git.URL]
			if lendGit {
				params.gitSecret = forwardedGitSecretName(p.runID, t.build.Service)
				params.forwardedGitSecret = true
			}
		}
		ib := imageBuild(t, params)
		if err := c.client.Create(ctx, ib); err != nil {
			rollback()
			return nil, nil, c.explain(err, txt("creating the ImageBuild of %s failed", "%s の ImageBuild の作成に失敗しました", t.build.Service))
		}
		created = append(created, ib)
		builds = append(builds, ib)
		if config != nil {
			secret := c.ephemeralSecret(ib, params.pushSecret, p.runID, t.build.Service, corev1.SecretTypeDockerConfigJson,
				map[string][]byte{corev1.DockerConfigJsonKey: config})
			if err := c.client.Create(ctx, secret); err != nil {
				rollback()
				return nil, nil, c.explain(err, txt("creating the push Secret of %s failed", "%s のプッシュ用 Secret の作成に失敗しました", t.build.Service))
			}
			created = append(created, secret)
		}
		if lendGit {
			secret := c.ephemeralSecret(ib, params.gitSecret, p.runID, t.build.Service, corev1.SecretTypeBasicAuth,
				map[string][]byte{corev1.BasicAuthUsernameKey: []byte(gitCred.username), corev1.BasicAuthPasswordKey: []byte(gitCred.password)})
			if err := c.client.Create(ctx, secret); err != nil {
				rollback()
				return nil, nil, c.explain(err, txt("creating the git credentials Secret of %s failed", "%s の Git 認証情報 Secret の作成に失敗しました", t.build.Service))
			}
			created = append(created, secret)
		}
	}
	return builds, rollback, nil
}

// ephemeralSecret is a Secret lending local credentials to the one build ib: owned by it and
// marked so that the controller lets no other build use it and deletes it when ib ends.
func (c *cluster) ephemeralSecret(ib *buildv1.ImageBuild, name, runID, service string, typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
	owner := metav1.NewControllerRef(ib, buildv1.ImageBuildKind)
	// Blocking the owner's deletion would need permission on imagebuilds/finalizers, which a
	// user who may only create ImageBuilds lacks; the Secret has nothing to finish anyway.
	owner.BlockOwnerDeletion = ptr.To(false)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: c.namespace,
			Labels:          map[string]string{buildv1.LabelRun: runID, buildv1.LabelService: kubename.LabelValue(service)},
			Annotations:     map[string]string{buildv1.AnnotationEphemeralSecret: "true"},
			OwnerReferences: []metav1.OwnerReference{*owner},
		},
		Type: typ,
		Data: data,
	}
}

// forwardedSecretName names the push Secret forwarded for one service of one run. The run ID is
// random, so a name cannot be guessed in advance; a Secret already there under it makes the create
// fail rather than be used.
func forwardedSecretName(runID, service string) string {
	return kubename.DNSLabel("flow-push-"+runID+"-"+strings.ToLower(service), "")
}

// forwardedConfig is the docker config JSON holding the local credentials of exactly the registries
// one build talks to (its image's and its bundle's), or nil when none has credentials.
func forwardedConfig(t *target, kc authn.Keychain) ([]byte, error) {
	auths := map[string]json.RawMessage{}
	for _, repo := range []string{t.push.Repository, t.bundleRepo} {
		ref, err := name.NewRepository(repo)
		if err != nil {
			return nil, fmt.Errorf("repository %s: %w", repo, err)
		}
		auth, err := kc.Resolve(ref.Registry)
		if err != nil {
			return nil, fmt.Errorf("reading the credentials for %s: %w", ref.RegistryStr(), err)
		}
		if auth == authn.Anonymous {
			continue
		}
		doc, err := registryauth.DockerConfigJSON(ref.RegistryStr(), auth)
		if err != nil {
			return nil, err
		}
		var parsed struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if err := json.Unmarshal(doc, &parsed); err != nil {
			return nil, fmt.Errorf("encoding the credentials for %s: %w", ref.RegistryStr(), err)
		}
		for k, v := range parsed.Auths {
			auths[k] = v
		}
	}
	if len(auths) == 0 {
		return nil, nil
	}
	return json.Marshal(map[string]any{"auths": auths})
}
