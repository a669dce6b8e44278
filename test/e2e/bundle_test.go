//go:build e2e

package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	buildv1 "github.com/fleetflow/flow-build/api/v1alpha1"
)

// A context of several layers: the build pod unpacks them all into the workspace, Kaniko sees every
// file with its content (checked by md5sum inside the image), and after one file changes the second
// bundle shares every layer but one or two with the first, and the image has the new content.
func TestE2E_LayeredContext(t *testing.T) {
	ns := namespace(t)
	dir := project(t, baseFrom+"COPY . /ctx\nRUN cd /ctx && find . -type f | sort | xargs md5sum > /sums\n")
	rng := rand.New(rand.NewPCG(11, 13))
	for i := range 60 {
		b := make([]byte, 100<<10)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		p := filepath.Join(dir, fmt.Sprintf("data%d", i%3), fmt.Sprintf("blob%02d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The index lives in a cache folder of this test's own.
	env := append(registryEnv("layers-"+runID), "XDG_CACHE_HOME="+t.TempDir())

	run := func() (*v1.Manifest, string) {
		t.Helper()
		r := flow(t, dir, env, "build", "--push", "--namespace", ns, "prod")
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		list := builds(t, ns)
		slices.SortFunc(list, func(a, b buildv1.ImageBuild) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
		ib := list[len(list)-1]
		if ib.Status.Output == nil || ib.Spec.Source.Bundle == nil {
			t.Fatalf("build %s: output %+v, source %+v", ib.Name, ib.Status.Output, ib.Spec.Source)
		}
		ref, err := name.NewDigest(ib.Spec.Source.Bundle.Image)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(ref, remoteOpts()...)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		sums := imageFile(t, ib.Status.Output.ImageRef, "sums")
		if want := localSums(t, dir); sums != want {
			t.Fatalf("the image's /sums differ from the context:\n%s\nwant\n%s", sums, want)
		}
		return m, r.stderr
	}

	first, _ := run()
	if len(first.Layers) < 4 {
		t.Fatalf("the 6 MiB context travelled in %d layers, want several", len(first.Layers))
	}
	p := filepath.Join(dir, "data1", "blob31.bin")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[1000] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	second, _ := run()
	have := map[v1.Hash]bool{}
	for _, l := range first.Layers {
		have[l.Digest] = true
	}
	changed := 0
	for _, l := range second.Layers {
		if !have[l.Digest] {
			changed++
		}
	}
	if changed < 1 || changed > 2 {
		t.Errorf("one changed file changed %d of %d layers, want 1 or 2", changed, len(second.Layers))
	}
}

// localSums is what `find . -type f | sort | xargs md5sum` prints in dir.
func localSums(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		names = append(names, "./"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out strings.Builder
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(n, "./"))))
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(b)
		fmt.Fprintf(&out, "%s  %s\n", hex.EncodeToString(sum[:]), n)
	}
	return out.String()
}
