// Command mkimage assembles the container images of the local test cluster without Docker
// and writes them as docker-archive tarballs (for `ctr images import`) or pushes them to a
// registry. It also makes the cluster's certificates and registry credentials, so that the
// hack/cluster scripts need nothing beyond Go and Debian packages.
//
//	mkimage rootfs   --dir DIR --tag T --out FILE [--entrypoint A]... [--cmd A]... [--env K=V]... [--workdir D] [--user U]
//	mkimage busybox  [--busybox /bin/busybox] [--platform linux/arm64 --applets-from /bin/busybox] --tag T --out FILE
//	mkimage pause    --bin FILE --tag T --out FILE
//	mkimage kaniko   --executor FILE --ca FILE... --tag T --out FILE
//	mkimage binary   --bin FILE --path /manager --tag T --out FILE [--user 65532] [--ca FILE]... [--env K=V]... [--arg A]...
//	mkimage push     --tar FILE... --ref R [--ca FILE] [--username U --password-file F]   (several: an image index)
//	mkimage htpasswd --username U --password-file F --out FILE
//	mkimage dockerconfig --registry HOST[:PORT]... --username U --password-file F --out FILE
//	mkimage ca       --cn NAME --cert FILE --key FILE
//	mkimage cert     --ca-cert F --ca-key F --cn NAME [--org O]... [--san NAME|IP]... [--server] [--client] --cert FILE --key FILE
//	mkimage keypair  --key FILE --pub FILE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// listFlag is a flag that may be given several times; each value is one element.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = map[string]command{
	"rootfs":       {"pack a directory as a one-layer image", runRootfs},
	"busybox":      {"make a busybox base image from a static busybox binary", runBusybox},
	"pause":        {"make the pod sandbox (pause) image from the built pause program", runPause},
	"kaniko":       {"make the Kaniko executor image with the official layout", runKaniko},
	"binary":       {"make a distroless-style image holding one static program", runBinary},
	"push":         {"push a docker-archive tarball to a registry and print its digest", runPush},
	"htpasswd":     {"write a bcrypt htpasswd line for the registry", runHtpasswd},
	"dockerconfig": {"write a Docker config.json with basic-auth credentials", runDockerConfig},
	"ca":           {"create a self-signed CA certificate and key", runCA},
	"cert":         {"create a certificate signed by a CA", runCert},
	"keypair":      {"create an RSA key pair (the service-account signing key)", runKeypair},
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: mkimage COMMAND [flags]   (mkimage COMMAND -h lists a command's flags)\n")
	b.WriteString("\ncommands:\n")
	for _, n := range []string{"rootfs", "busybox", "pause", "kaniko", "binary", "push", "htpasswd", "dockerconfig", "ca", "cert", "keypair"} {
		fmt.Fprintf(&b, "  %-13s %s\n", n, commands[n].summary)
	}
	// The help goes to stderr; if even that cannot be written there is nowhere left to say so,
	// and the caller's exit status already tells a script that the command line was wrong.
	_, _ = io.WriteString(w, b.String())
}

func main() {
	os.Exit(runMain())
}

// runMain runs the command line and returns the process exit status. It is separate from
// main so that its deferred cleanup (the signal handler) runs before os.Exit.
func runMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
		}
		return 2
	}
	return 0
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errors.New("no command given")
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		usage(stderr)
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err := c.run(ctx, args[1:], stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

// newFlags returns a flag set that reports errors instead of exiting, so that run can be
// tested and every error gets the same "mkimage CMD:" prefix.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("mkimage "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

// parse parses args and checks that every flag named in required was given a value.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; every input is a flag (see -h)", fs.Arg(0))
	}
	for _, r := range required {
		f := fs.Lookup(r)
		if f == nil || f.Value.String() == "" {
			usage := ""
			if f != nil {
				usage = " (" + f.Usage + ")"
			}
			return fmt.Errorf("--%s is required%s", r, usage)
		}
	}
	return nil
}

// outputFlags are the flags of every image-making command.
func outputFlags(fs *flag.FlagSet) (tag, out *string) {
	tag = fs.String("tag", "", "image reference to record in the archive, e.g. localhost/busybox:1.35")
	out = fs.String("out", "", "docker-archive tarball to write")
	return tag, out
}

func write(stdout io.Writer, out, tag string, img v1.Image) error {
	if err := writeArchive(out, tag, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	// The scripts read this line; if it cannot be written the command has not done its job.
	_, err = fmt.Fprintf(stdout, "%s %s %s\n", out, tag, d)
	return err
}

func runRootfs(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("rootfs")
	dir := fs.String("dir", "", "directory to pack as the image's root filesystem")
	tag, out := outputFlags(fs)
	var entrypoint, cmd, env listFlag
	fs.Var(&entrypoint, "entrypoint", "entrypoint element (repeat for each argument)")
	fs.Var(&cmd, "cmd", "default argument (repeat for each argument)")
	fs.Var(&env, "env", "environment variable KEY=VALUE (repeatable)")
	workdir := fs.String("workdir", "", "working directory of the process")
	user := fs.String("user", "", "user[:group] the process runs as")
	if err := parse(fs, args, "dir", "tag", "out"); err != nil {
		return err
	}
	b := newLayer()
	if err := b.addTree(*dir); err != nil {
		return err
	}
	l, err := b.layer()
	if err != nil {
		return err
	}
	img, err := buildImage([]v1.Layer{l}, imageConfig{Entrypoint: entrypoint, Cmd: cmd, Env: env, WorkingDir: *workdir, User: *user})
	if err != nil {
		return err
	}
	return write(stdout, *out, *tag, img)
}

func runBusybox(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("busybox")
	bb := fs.String("busybox", "/bin/busybox", "statically linked busybox binary (Debian: busybox-static)")
	plat := fs.String("platform", "", "the busybox binary's platform, os/arch[/variant] (default: linux on this machine's architecture)")
	appletsFrom := fs.String("applets-from", "", "a busybox of the same version that runs here, to list the applets when --busybox is for another architecture (default: --busybox)")
	tag, out := outputFlags(fs)
	if err := parse(fs, args, "busybox", "tag", "out"); err != nil {
		return err
	}
	var platform *v1.Platform
	if *plat != "" {
		p, err := v1.ParsePlatform(*plat)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return fmt.Errorf("--platform %q: want os/arch[/variant], e.g. linux/arm64", *plat)
		}
		platform = p
	}
	lister := *bb
	if *appletsFrom != "" {
		lister = *appletsFrom
	}
	applets, err := busyboxApplets(lister)
	if err != nil {
		return err
	}
	img, err := busyboxImage(*bb, applets, platform)
	if err != nil {
		return err
	}
	return write(stdout, *out, *tag, img)
}

func runPause(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("pause")
	bin := fs.String("bin", "", "the pause program built from hack/mkimage/pause")
	tag, out := outputFlags(fs)
	if err := parse(fs, args, "bin", "tag", "out"); err != nil {
		return err
	}
	// 65535 is the user of the upstream pause image.
	img, err := binaryImage(binaryOptions{Bin: *bin, Path: "/pause", User: "65535:65535", Minimal: true})
	if err != nil {
		return err
	}
	return write(stdout, *out, *tag, img)
}

func runKaniko(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("kaniko")
	executor := fs.String("executor", "", "the Kaniko executor binary")
	var ca listFlag
	fs.Var(&ca, "ca", "PEM file to add to /kaniko/ssl/certs/ca-certificates.crt (repeatable)")
	tag, out := outputFlags(fs)
	if err := parse(fs, args, "executor", "tag", "out"); err != nil {
		return err
	}
	img, err := kanikoImage(*executor, ca)
	if err != nil {
		return err
	}
	return write(stdout, *out, *tag, img)
}

func runBinary(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("binary")
	o := binaryOptions{}
	fs.StringVar(&o.Bin, "bin", "", "static program to put into the image")
	fs.StringVar(&o.Path, "path", "", "its absolute path inside the image, also the entrypoint (e.g. /manager)")
	fs.StringVar(&o.User, "user", "65532:65532", "numeric user[:group] the program runs as")
	var ca, env, arg listFlag
	fs.Var(&ca, "ca", "PEM file to add to /etc/ssl/certs/ca-certificates.crt (repeatable)")
	fs.Var(&env, "env", "environment variable KEY=VALUE (repeatable)")
	fs.Var(&arg, "arg", "default argument (repeatable)")
	tag, out := outputFlags(fs)
	if err := parse(fs, args, "bin", "path", "tag", "out"); err != nil {
		return err
	}
	o.CAFiles, o.Env, o.Args = ca, env, arg
	img, err := binaryImage(o)
	if err != nil {
		return err
	}
	return write(stdout, *out, *tag, img)
}

func runPush(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("push")
	var tars listFlag
	fs.Var(&tars, "tar", "docker-archive tarball holding one image; repeat it for an image index of several platforms")
	ref := fs.String("ref", "", "where to push it, host[:port]/repository:tag")
	ca := fs.String("ca", "", "PEM CA file to trust in addition to the system roots")
	user := fs.String("username", "", "registry user (without it, credentials come from DOCKER_CONFIG or ~/.docker/config.json)")
	pwFile := fs.String("password-file", "", "file whose first line is the registry password")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := parse(fs, args, "tar", "ref"); err != nil {
		return err
	}
	var auth authn.Authenticator
	if *user != "" || *pwFile != "" {
		if err := checkUsername(*user); err != nil {
			return err
		}
		pw, err := readPassword(*pwFile)
		if err != nil {
			return err
		}
		auth = &authn.Basic{Username: *user, Password: pw}
	}
	rt, err := registryTransport(*ca)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	d, err := pushArchive(ctx, tars, *ref, auth, rt)
	if err != nil {
		return err
	}
	// The digest is the command's result; a caller that cannot receive it must see a failure.
	_, err = fmt.Fprintln(stdout, d)
	return err
}

func runHtpasswd(_ context.Context, args []string, _ io.Writer) error {
	fs := newFlags("htpasswd")
	user := fs.String("username", "", "user name")
	pwFile := fs.String("password-file", "", "file whose first line is the password")
	out := fs.String("out", "", "htpasswd file to write")
	if err := parse(fs, args, "username", "password-file", "out"); err != nil {
		return err
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	line, err := htpasswdLine(*user, pw)
	if err != nil {
		return err
	}
	return writeFileAtomic(*out, line, 0o600)
}

func runDockerConfig(_ context.Context, args []string, _ io.Writer) error {
	fs := newFlags("dockerconfig")
	var registries listFlag
	fs.Var(&registries, "registry", "registry host[:port] the credentials are for (repeatable)")
	user := fs.String("username", "", "registry user")
	pwFile := fs.String("password-file", "", "file whose first line is the password")
	out := fs.String("out", "", "config.json to write")
	if err := parse(fs, args, "registry", "username", "password-file", "out"); err != nil {
		return err
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	data, err := dockerConfig(registries, *user, pw)
	if err != nil {
		return err
	}
	return writeFileAtomic(*out, data, 0o600)
}

func runCA(_ context.Context, args []string, _ io.Writer) error {
	fs := newFlags("ca")
	cn := fs.String("cn", "", "common name of the CA")
	certFile := fs.String("cert", "", "certificate file to write")
	keyFile := fs.String("key", "", "key file to write")
	validity := fs.Duration("validity", 10*365*24*time.Hour, "how long the CA is valid")
	if err := parse(fs, args, "cn", "cert", "key"); err != nil {
		return err
	}
	c, k, err := newCA(*cn, *validity)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*keyFile, k, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(*certFile, c, 0o644)
}

func runCert(_ context.Context, args []string, _ io.Writer) error {
	fs := newFlags("cert")
	caCert := fs.String("ca-cert", "", "CA certificate that signs")
	caKey := fs.String("ca-key", "", "CA key")
	r := certRequest{}
	fs.StringVar(&r.CommonName, "cn", "", "common name (for Kubernetes client certificates: the user name)")
	var orgs, sans listFlag
	fs.Var(&orgs, "org", "organization (for Kubernetes client certificates: a group; repeatable)")
	fs.Var(&sans, "san", "subject alternative name, a DNS name or an IP address (repeatable)")
	fs.BoolVar(&r.Server, "server", false, "usable as a TLS server certificate")
	fs.BoolVar(&r.Client, "client", false, "usable as a TLS client certificate")
	fs.DurationVar(&r.Validity, "validity", 2*365*24*time.Hour, "how long the certificate is valid")
	certFile := fs.String("cert", "", "certificate file to write")
	keyFile := fs.String("key", "", "key file to write")
	if err := parse(fs, args, "ca-cert", "ca-key", "cn", "cert", "key"); err != nil {
		return err
	}
	r.Organization, r.SANs = orgs, sans
	cp, err := os.ReadFile(*caCert)
	if err != nil {
		return fmt.Errorf("reading --ca-cert: %w", err)
	}
	kp, err := os.ReadFile(*caKey)
	if err != nil {
		return fmt.Errorf("reading --ca-key: %w", err)
	}
	c, k, err := newCert(cp, kp, r)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*keyFile, k, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(*certFile, c, 0o644)
}

func runKeypair(_ context.Context, args []string, _ io.Writer) error {
	fs := newFlags("keypair")
	keyFile := fs.String("key", "", "private key file to write")
	pubFile := fs.String("pub", "", "public key file to write")
	if err := parse(fs, args, "key", "pub"); err != nil {
		return err
	}
	k, p, err := newRSAKeyPair()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*keyFile, k, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(*pubFile, p, 0o644)
}
