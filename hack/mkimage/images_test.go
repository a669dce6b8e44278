package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageFiles returns the single layer's entries and the config of img.
func imageFiles(t *testing.T, img v1.Image) (map[string]tarEntry, *v1.ConfigFile) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	_, entries := layerTar(t, layers[0])
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return entries, cf
}

func writeTemp(t *testing.T, name, data string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func testCA(t *testing.T, cn string) string {
	t.Helper()
	c, _, err := newCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return writeTemp(t, cn+".crt", string(c), 0o644)
}

func TestKanikoImageHasTheOfficialLayout(t *testing.T) {
	exe := writeTemp(t, "executor", "ELF-executor", 0o755)
	local, system := testCA(t, "local"), testCA(t, "system")
	img, err := kanikoImage(exe, []string{local, system})
	if err != nil {
		t.Fatal(err)
	}
	entries, cf := imageFiles(t, img)
	if got := cf.Config.Entrypoint; !slices.Equal(got, []string{"/kaniko/executor"}) {
		t.Errorf("entrypoint = %v, want [/kaniko/executor]", got)
	}
	if cf.Config.WorkingDir != "/workspace" {
		t.Errorf("workdir = %q, want /workspace", cf.Config.WorkingDir)
	}
	for _, kv := range []string{"DOCKER_CONFIG=/kaniko/.docker/", "SSL_CERT_DIR=/kaniko/ssl/certs", "PATH=/usr/local/bin:/kaniko", "HOME=/root", "USER=root"} {
		if !slices.Contains(cf.Config.Env, kv) {
			t.Errorf("env %v lacks %s", cf.Config.Env, kv)
		}
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform = %s/%s, want linux/<host arch>", cf.OS, cf.Architecture)
	}
	if e := entries["kaniko/executor"]; e.data != "ELF-executor" || e.mode != 0o755 {
		t.Errorf("kaniko/executor = %+v, want the executor with mode 0755", e)
	}
	if e := entries["kaniko/"]; e.mode != 0o777 {
		t.Errorf("kaniko/ mode = %o, want 0777 (Kaniko may run as non-root)", e.mode)
	}
	if e, ok := entries["kaniko/.docker/"]; !ok || e.typ != tar.TypeDir {
		t.Errorf("kaniko/.docker/ = %+v, want a directory", e)
	}
	bundle := entries["kaniko/ssl/certs/ca-certificates.crt"].data
	for _, f := range []string{local, system} {
		pem, _ := os.ReadFile(f)
		if !strings.Contains(bundle, strings.TrimSpace(string(pem))) {
			t.Errorf("CA bundle lacks %s", filepath.Base(f))
		}
	}
	if !strings.Contains(entries["etc/nsswitch.conf"].data, "hosts:          files dns") {
		t.Errorf("etc/nsswitch.conf missing or without hosts line")
	}
}

func TestKanikoImageInputErrors(t *testing.T) {
	exe := writeTemp(t, "executor", "x", 0o755)
	notPEM := writeTemp(t, "ca.txt", "not a certificate", 0o644)
	tests := []struct {
		name     string
		executor string
		ca       []string
		want     string
	}{
		{"no executor", "", []string{testCA(t, "c")}, "--executor is required"},
		{"no CA", exe, nil, "--ca is required"},
		{"CA without certificate", exe, []string{notPEM}, "holds no PEM certificate"},
		{"missing executor", filepath.Join(t.TempDir(), "nope"), []string{testCA(t, "c")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kanikoImage(tt.executor, tt.ca)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestBinaryImage(t *testing.T) {
	bin := writeTemp(t, "manager", "ELF-manager", 0o700)
	ca := testCA(t, "reg")
	tests := []struct {
		name      string
		opts      binaryOptions
		wantUser  string
		wantFiles []string
		noFiles   []string
		wantErr   string
	}{
		{
			name:      "manager with CA",
			opts:      binaryOptions{Bin: bin, Path: "/manager", User: "65532", CAFiles: []string{ca}, Args: []string{"--leader-elect"}},
			wantUser:  "65532",
			wantFiles: []string{"manager", "etc/passwd", "etc/group", "tmp/", "etc/ssl/certs/ca-certificates.crt"},
		},
		{
			name:      "pause is minimal",
			opts:      binaryOptions{Bin: bin, Path: "/pause", User: "65535:65535", Minimal: true},
			wantUser:  "65535:65535",
			wantFiles: []string{"pause"},
			noFiles:   []string{"etc/passwd", "tmp/", "etc/ssl/certs/ca-certificates.crt"},
		},
		{name: "relative path", opts: binaryOptions{Bin: bin, Path: "manager"}, wantErr: "must be an absolute path"},
		{name: "no binary", opts: binaryOptions{Path: "/manager"}, wantErr: "--bin is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := binaryImage(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			entries, cf := imageFiles(t, img)
			if cf.Config.User != tt.wantUser {
				t.Errorf("user = %q, want %q", cf.Config.User, tt.wantUser)
			}
			if !slices.Equal(cf.Config.Entrypoint, []string{tt.opts.Path}) || !slices.Equal(cf.Config.Cmd, tt.opts.Args) {
				t.Errorf("entrypoint/cmd = %v %v, want [%s] %v", cf.Config.Entrypoint, cf.Config.Cmd, tt.opts.Path, tt.opts.Args)
			}
			for _, f := range tt.wantFiles {
				if _, ok := entries[f]; !ok {
					t.Errorf("image lacks %s", f)
				}
			}
			for _, f := range tt.noFiles {
				if _, ok := entries[f]; ok {
					t.Errorf("image has %s, want it absent", f)
				}
			}
			prog := strings.TrimPrefix(tt.opts.Path, "/")
			if e := entries[prog]; e.mode != 0o755 || e.data != "ELF-manager" {
				t.Errorf("%s = %+v, want the program with mode 0755", prog, e)
			}
			if !tt.opts.Minimal && !strings.Contains(entries["etc/passwd"].data, "nonroot:x:65532:65532") {
				t.Errorf("etc/passwd lacks the nonroot user: %q", entries["etc/passwd"].data)
			}
		})
	}
}

func TestBusybox(t *testing.T) {
	// A stand-in for busybox: prints an applet list like `busybox --list` does.
	fake := writeTemp(t, "busybox", "#!/bin/sh\nprintf 'busybox\\nsh\\nls\\nwget\\n'\n", 0o755)
	applets, err := busyboxApplets(fake)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(applets, []string{"sh", "ls", "wget"}) {
		t.Fatalf("applets = %v, want [sh ls wget] (busybox itself left out)", applets)
	}
	img, err := busyboxImage(fake, applets, nil)
	if err != nil {
		t.Fatal(err)
	}
	entries, cf := imageFiles(t, img)
	for _, a := range applets {
		if e := entries["bin/"+a]; e.typ != tar.TypeSymlink || e.link != "busybox" {
			t.Errorf("bin/%s = %+v, want a symlink to busybox", a, e)
		}
	}
	if e := entries["tmp/"]; e.mode != 0o1777 {
		t.Errorf("tmp/ mode = %o, want 1777", e.mode)
	}
	if !slices.Equal(cf.Config.Cmd, []string{"sh"}) || !slices.Contains(cf.Config.Env, defaultPath) {
		t.Errorf("config = %+v, want Cmd [sh] and the default PATH", cf.Config)
	}

	failing := writeTemp(t, "false", "#!/bin/sh\nexit 3\n", 0o755)
	if _, err := busyboxApplets(failing); err == nil || !strings.Contains(err.Error(), "busybox-static") {
		t.Errorf("busyboxApplets(failing) error = %v, want a hint at busybox-static", err)
	}
}

func TestWriteArchiveRoundTrip(t *testing.T) {
	bin := writeTemp(t, "pause", "ELF-pause", 0o755)
	img, err := binaryImage(binaryOptions{Bin: bin, Path: "/pause", Minimal: true})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sub", "pause.tar")
	if err := writeArchive(out, "localhost/pause:flow", img); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	back, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	got, err := back.Digest()
	if err != nil || got != want {
		t.Fatalf("archive digest = %s, %v; want %s", got, err, want)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil || len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{"localhost/pause:flow"}) {
		t.Fatalf("archive manifest = %+v, %v; want one image tagged localhost/pause:flow", m, err)
	}

	if err := writeArchive(out, "Not A Tag", img); err == nil || !strings.Contains(err.Error(), "invalid --tag") {
		t.Errorf("writeArchive with a bad tag: error = %v, want an invalid --tag error", err)
	}
}

func TestBuildImageEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		want    []string
		wantErr string
	}{
		{name: "default PATH first", env: []string{"A=1"}, want: []string{defaultPath, "A=1"}},
		{name: "own PATH kept", env: []string{"PATH=/x"}, want: []string{"PATH=/x"}},
		{name: "not KEY=VALUE", env: []string{"oops"}, wantErr: `"oops" is not KEY=VALUE`},
		{name: "empty key", env: []string{"=v"}, wantErr: "is not KEY=VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := buildImage(nil, imageConfig{Env: tt.env})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cf, _ := img.ConfigFile()
			if !slices.Equal(cf.Config.Env, tt.want) {
				t.Fatalf("env = %v, want %v", cf.Config.Env, tt.want)
			}
		})
	}
}

func TestImagesAreReproducible(t *testing.T) {
	exe := writeTemp(t, "executor", "ELF", 0o755)
	ca := testCA(t, "ca")
	digest := func() v1.Hash {
		img, err := kanikoImage(exe, []string{ca})
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if !cf.Created.Equal(epoch) {
			t.Errorf("created = %v, want %v", cf.Created, epoch)
		}
		for _, h := range cf.History {
			if !h.Created.Equal(epoch) {
				t.Errorf("history entry created %v, want %v", h.Created, epoch)
			}
		}
		return d
	}
	first := digest()
	time.Sleep(1100 * time.Millisecond) // a build that used the clock would now differ
	if second := digest(); first != second {
		t.Fatalf("two builds from the same inputs: %s and %s, want equal", first, second)
	}
}
