package main

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The image recipes the local cluster needs. Each returns an image; writing or pushing it
// is up to the caller.

// busyboxApplets asks a busybox binary which applets it was built with.
func busyboxApplets(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s --list: %w (pass a statically linked busybox, e.g. from the busybox-static package)", busybox, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			applets = append(applets, a)
		}
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list printed no applets", busybox)
	}
	return applets, nil
}

// Users of the images: root, the distroless "nonroot" user that the manager runs as, and
// nobody. A passwd file lets programs resolve the numeric user set in the image config.
const passwdFile = "root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
const groupFile = "root:x:0:\nnonroot:x:65532:\nnobody:x:65534:\n"

// busyboxImage is a minimal shell image like the official busybox one: the static binary,
// one symlink per applet in /bin, users, /tmp and /root. It is the base the example
// Dockerfiles build FROM.
func busyboxImage(busybox string, applets []string, platform *v1.Platform) (v1.Image, error) {
	b := newLayer()
	if err := b.addHostFile("bin/busybox", busybox); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := b.addSymlink("bin/"+a, "busybox"); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		data string
	}{{"etc/passwd", passwdFile}, {"etc/group", groupFile}} {
		if err := b.addFile(f.name, []byte(f.data)); err != nil {
			return nil, err
		}
	}
	for _, d := range []struct {
		name string
		perm os.FileMode
	}{{"tmp", 0o777 | os.ModeSticky}, {"root", 0o700}, {"home/nonroot", 0o755}, {"usr/bin", 0o755}} {
		if err := b.addDir(d.name, d.perm); err != nil {
			return nil, err
		}
	}
	l, err := b.layer()
	if err != nil {
		return nil, err
	}
	return buildImage([]v1.Layer{l}, imageConfig{Cmd: []string{"sh"}, Platform: platform})
}

// binaryOptions describes an image made of one static program.
type binaryOptions struct {
	Bin     string   // host path of the program
	Path    string   // where it goes in the image, also the entrypoint
	User    string   // numeric user[:group] to run as
	CAFiles []string // PEM bundles concatenated into /etc/ssl/certs/ca-certificates.crt
	Env     []string
	Args    []string // default arguments (the image's Cmd)
	Minimal bool     // only the program: no users, /tmp or CA bundle (the pause image)
}

// binaryImage is a distroless-style image: the program, a passwd file that knows the
// nonroot user, a writable /tmp and, when CA files are given, the CA bundle at the path Go
// programs read by default — the manager needs it to pull source bundles from a registry
// with a private CA.
func binaryImage(o binaryOptions) (v1.Image, error) {
	if o.Bin == "" {
		return nil, fmt.Errorf("--bin is required (the static program to put into the image)")
	}
	if o.Path == "" || !strings.HasPrefix(o.Path, "/") {
		return nil, fmt.Errorf("--path %q must be an absolute path inside the image, e.g. /manager", o.Path)
	}
	b := newLayer()
	if err := b.addHostFile(o.Path, o.Bin); err != nil {
		return nil, err
	}
	if !o.Minimal {
		if err := b.addFile("etc/passwd", []byte(passwdFile)); err != nil {
			return nil, err
		}
		if err := b.addFile("etc/group", []byte(groupFile)); err != nil {
			return nil, err
		}
		if err := b.addDir("tmp", 0o777|os.ModeSticky); err != nil {
			return nil, err
		}
		if err := b.addDir("home/nonroot", 0o755); err != nil {
			return nil, err
		}
	}
	if len(o.CAFiles) > 0 {
		bundle, err := caBundle(o.CAFiles)
		if err != nil {
			return nil, err
		}
		if err := b.addFile("etc/ssl/certs/ca-certificates.crt", bundle); err != nil {
			return nil, err
		}
	}
	l, err := b.layer()
	if err != nil {
		return nil, err
	}
	return buildImage([]v1.Layer{l}, imageConfig{Entrypoint: []string{o.Path}, Cmd: o.Args, Env: o.Env, User: o.User})
}

// caBundle concatenates PEM files, refusing any that holds no certificate: a typo'd path
// must not silently produce an image that trusts nothing.
func caBundle(files []string) ([]byte, error) {
	var buf bytes.Buffer
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		if !hasPEMCertificate(data) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", f)
		}
		buf.Write(bytes.TrimRight(data, "\n"))
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

func hasPEMCertificate(data []byte) bool {
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return false
		}
		if blk.Type == "CERTIFICATE" {
			return true
		}
	}
}

// nsswitchConf is the file the official Kaniko image ships, so that /etc/hosts entries
// (pod hostAliases) are honoured by the executor.
const nsswitchConf = "passwd:         compat\ngroup:          compat\nshadow:         compat\ngshadow:        files\n\nhosts:          files dns\nnetworks:       files\n\nprotocols:      db files\nservices:       db files\nethers:         db files\nrpc:            db files\n\nnetgroup:       nis\n"

// kanikoImage reproduces the layout of the official gcr.io/kaniko-project/executor image
// (deploy/Dockerfile, target kaniko-executor) without the cloud credential helpers:
// /kaniko (world-writable) holding the executor, the CA bundle under /kaniko/ssl/certs and
// an empty /kaniko/.docker where the push Secret is mounted; the same environment,
// working directory and entrypoint.
func kanikoImage(executor string, caFiles []string) (v1.Image, error) {
	if executor == "" {
		return nil, fmt.Errorf("--executor is required (the Kaniko executor binary)")
	}
	if len(caFiles) == 0 {
		return nil, fmt.Errorf("--ca is required at least once (the registry CA and/or the system bundle, e.g. /etc/ssl/certs/ca-certificates.crt)")
	}
	bundle, err := caBundle(caFiles)
	if err != nil {
		return nil, err
	}
	b := newLayer()
	steps := []func() error{
		func() error { return b.addDir("kaniko", 0o777) },
		func() error { return b.addHostFile("kaniko/executor", executor) },
		func() error { return b.addFile("kaniko/ssl/certs/ca-certificates.crt", bundle) },
		func() error { return b.addDir("kaniko/.docker", 0o755) },
		func() error { return b.addFile("etc/nsswitch.conf", []byte(nsswitchConf)) },
		func() error { return b.addDir("workspace", 0o755) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	l, err := b.layer()
	if err != nil {
		return nil, err
	}
	return buildImage([]v1.Layer{l}, imageConfig{
		Entrypoint: []string{"/kaniko/executor"},
		Env: []string{
			"HOME=/root",
			"USER=root",
			"PATH=/usr/local/bin:/kaniko",
			"SSL_CERT_DIR=/kaniko/ssl/certs",
			"DOCKER_CONFIG=/kaniko/.docker/",
			"DOCKER_CREDENTIAL_GCR_CONFIG=/kaniko/.config/gcloud/docker_credential_gcr_config.json",
		},
		WorkingDir: "/workspace",
	})
}
