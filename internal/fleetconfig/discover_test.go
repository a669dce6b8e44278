package fleetconfig

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetflow/flow-build/internal/usererr"
)

func TestDiscover(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		workDir  string // relative to the temporary root
		explicit string
		env      map[string]string // values relative to the temporary root get it prefixed by "@/"
		want     string            // relative to the temporary root
		wantErr  []string          // substrings of the error, which must match ErrConfigNotFound
	}{
		{
			name:  ".fleetflow/fleet.kdl beats fleet.kdl and flow.kdl",
			files: map[string]string{".fleetflow/fleet.kdl": "", "fleet.kdl": "", "flow.kdl": ""},
			want:  ".fleetflow/fleet.kdl",
		},
		{
			name:  "fleet.kdl beats flow.kdl",
			files: map[string]string{"fleet.kdl": "", "flow.kdl": ""},
			want:  "fleet.kdl",
		},
		{
			name:  "flow.kdl alone",
			files: map[string]string{"flow.kdl": ""},
			want:  "flow.kdl",
		},
		{
			name:    "walks up from a nested folder",
			files:   map[string]string{"flow.kdl": "", "services/api/src/": ""},
			workDir: "services/api/src",
			want:    "flow.kdl",
		},
		{
			name:    "the nearest folder wins over a parent's .fleetflow",
			files:   map[string]string{".fleetflow/fleet.kdl": "", "sub/flow.kdl": "", "sub/deeper/": ""},
			workDir: "sub/deeper",
			want:    "sub/flow.kdl",
		},
		{
			name:    "a folder named like a config file is not one",
			files:   map[string]string{"fleet.kdl/": "", "flow.kdl": ""},
			want:    "flow.kdl",
			workDir: "",
		},
		{
			name:     "explicit -f relative to the working directory beats the environment",
			files:    map[string]string{"conf/custom.kdl": "", "other.kdl": "", "flow.kdl": ""},
			explicit: "conf/custom.kdl",
			env:      map[string]string{EnvConfigPath: "@/other.kdl"},
			want:     "conf/custom.kdl",
		},
		{
			name:     "explicit -f that does not exist",
			files:    map[string]string{"flow.kdl": ""},
			explicit: "missing.kdl",
			wantErr:  []string{"missing.kdl", "fix the path given with -f", "does not exist"},
		},
		{
			name:     "explicit -f naming a folder",
			files:    map[string]string{"conf/": ""},
			explicit: "conf",
			wantErr:  []string{"is a folder"},
		},
		{
			name:  "FLEETFLOW_CONFIG_PATH beats discovery",
			files: map[string]string{"flow.kdl": "", "elsewhere/my.kdl": ""},
			env:   map[string]string{EnvConfigPath: "@/elsewhere/my.kdl"},
			want:  "elsewhere/my.kdl",
		},
		{
			name:    "FLEETFLOW_CONFIG_PATH relative to the working directory",
			files:   map[string]string{"a/b.kdl": ""},
			env:     map[string]string{EnvConfigPath: "b.kdl"},
			workDir: "a",
			want:    "a/b.kdl",
		},
		{
			name:  "FLEETFLOW_CONFIG_PATH naming a project folder",
			files: map[string]string{"proj/.fleetflow/fleet.kdl": ""},
			env:   map[string]string{EnvConfigPath: "@/proj"},
			want:  "proj/.fleetflow/fleet.kdl",
		},
		{
			name:    "FLEETFLOW_CONFIG_PATH that does not exist",
			files:   map[string]string{"flow.kdl": ""},
			env:     map[string]string{EnvConfigPath: "@/nope.kdl"},
			wantErr: []string{"nope.kdl", EnvConfigPath, "does not exist"},
		},
		{
			name:    "nothing found says where it looked and how to fix it",
			files:   map[string]string{"empty/": ""},
			workDir: "empty",
			wantErr: []string{"empty", ".fleetflow/fleet.kdl, fleet.kdl, flow.kdl", "-f FILE", EnvConfigPath},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realTempDir(t)
			writeTree(t, root, tt.files)
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = strings.Replace(v, "@", root, 1)
			}
			got, err := Discover(tt.explicit, filepath.Join(root, tt.workDir), envOf(env))
			if tt.wantErr != nil {
				if !errors.Is(err, ErrConfigNotFound) {
					t.Fatalf("Discover() error = %v, want ErrConfigNotFound", err)
				}
				msg := renderAll(err, usererr.English)
				for _, s := range tt.wantErr {
					if !strings.Contains(msg, s) {
						t.Errorf("error\n%s\ndoes not mention %q", msg, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover() error = %v", err)
			}
			if want := filepath.Join(root, filepath.FromSlash(tt.want)); got != want {
				t.Errorf("Discover() = %s, want %s", got, want)
			}
		})
	}
}

func TestProjectRoot(t *testing.T) {
	tests := []struct{ file, want string }{
		{"/p/fleet.kdl", "/p"},
		{"/p/.fleetflow/fleet.kdl", "/p"},
		{"/p/conf/custom.kdl", "/p/conf"},
	}
	for _, tt := range tests {
		if got := ProjectRoot(filepath.FromSlash(tt.file)); got != filepath.FromSlash(tt.want) {
			t.Errorf("ProjectRoot(%s) = %s, want %s", tt.file, got, tt.want)
		}
	}
}
