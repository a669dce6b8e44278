package fleetconfig

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fleetflow/flow-build/internal/usererr"
)

// Environment variables that say where the project is, as in FleetFlow.
const (
	// EnvConfigPath names the config file (or a folder holding one).
	EnvConfigPath = "FLEETFLOW_CONFIG_PATH"
	// EnvProjectRoot names the project root: the folder that holds .fleetflow/fleet.kdl.
	EnvProjectRoot = "FLEET_PROJECT_ROOT"
)

// ConfigFileNames are the names looked for in each folder, in order of preference.
// `.fleetflow/fleet.kdl` is FleetFlow's; the other two are the names older FleetFlow versions read.
var ConfigFileNames = []string{".fleetflow/fleet.kdl", "fleet.kdl", "flow.kdl"}

// Discover finds the root config file: explicitFile (the CLI's -f) first, else the file named by
// FLEETFLOW_CONFIG_PATH, else the project named by FLEET_PROJECT_ROOT, else the first of
// ConfigFileNames found in workDir or in the nearest folder above it. Relative paths are taken
// from workDir. getenv reads the environment (nil means os.Getenv). The path returned is absolute.
//
// FLEETFLOW_CONFIG_PATH may also name a folder, in which case ConfigFileNames are looked for in it
// (and only in it).
func Discover(explicitFile, workDir string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	workDir, err := filepath.Abs(workDir)
	if err != nil {
		return "", configErr(ErrConfigNotFound, "the working directory cannot be resolved", "作業ディレクトリを解決できません").
			WithReason(usererr.Same(err.Error()))
	}
	if explicitFile != "" {
		return checkConfigFile(absFrom(workDir, explicitFile), txt("fix the path given with -f", "-f で指定したパスを修正してください"))
	}
	if env := getenv(EnvConfigPath); env != "" {
		p := absFrom(workDir, env)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			if found := findIn(p); found != "" {
				return found, nil
			}
			return "", configErr(ErrConfigNotFound, "no FleetFlow config file found", "設定ファイルが見つかりません").
				WithTarget(EnvConfigPath + "=" + env).
				WithReason(txt("the folder holds none of %s", "このフォルダーには %s のどれもありません", strings.Join(ConfigFileNames, ", "))).
				WithRemedies(txt("point %s at the .kdl file, or unset it", "%s に .kdl ファイルを指定するか、設定を解除してください", EnvConfigPath))
		}
		return checkConfigFile(p, txt("fix or unset %s, or pass the file with -f", "%s を修正または解除するか、-f でファイルを指定してください", EnvConfigPath))
	}
	if env := getenv(EnvProjectRoot); env != "" {
		root := absFrom(workDir, env)
		if found := findIn(root); found != "" {
			return found, nil
		}
		// FleetFlow silently looks elsewhere; a variable that points nowhere is a mistake to report.
		return "", configErr(ErrConfigNotFound, "no FleetFlow project at "+EnvProjectRoot, EnvProjectRoot+" にプロジェクトがありません").
			WithTarget(EnvProjectRoot + "=" + env).
			WithReason(txt("%s holds none of %s", "%s には %s のどれもありません", root, strings.Join(ConfigFileNames, ", "))).
			WithRemedies(txt("point %s at the folder that holds .fleetflow/fleet.kdl, or unset it", "%s に .fleetflow/fleet.kdl を含むフォルダーを指定するか、設定を解除してください", EnvProjectRoot))
	}
	for dir := workDir; ; {
		if found := findIn(dir); found != "" {
			return found, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	// FleetFlow's own wording (its `fleet` command then starts a setup wizard, which flow does not).
	return "", configErr(ErrConfigNotFound, "project root not found", "プロジェクトルートが見つかりません").
		WithLines(txt("searched from: %s and every folder above it, for %s", "探索開始位置: %s（上位のフォルダーも含め %s を探しました）", workDir, strings.Join(ConfigFileNames, ", "))).
		WithRemedies(
			txt("run flow inside a FleetFlow project (a folder with .fleetflow/fleet.kdl)", "fleet.kdl ファイルを含むディレクトリで実行してください（.fleetflow/fleet.kdl）"),
			txt("or pass the file with -f FILE, or set %s or %s", "または -f FILE でファイルを指定するか、%s か %s を設定してください", EnvConfigPath, EnvProjectRoot))
}

// ProjectRoot returns the project root for a config file: the folder that holds it, or the
// parent of that folder when it is `.fleetflow`.
func ProjectRoot(configFile string) string {
	dir := filepath.Dir(configFile)
	if filepath.Base(dir) == ".fleetflow" {
		return filepath.Dir(dir)
	}
	return dir
}

func absFrom(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// findIn returns the first of ConfigFileNames that is a regular file in dir, or "".
func findIn(dir string) string {
	for _, name := range ConfigFileNames {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if isFile(p) {
			return p
		}
	}
	return ""
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func checkConfigFile(p string, fix usererr.Text) (string, error) {
	fi, err := os.Stat(p)
	notFound := func(reason usererr.Text) error {
		return configErr(ErrConfigNotFound, "no FleetFlow config file found", "設定ファイルが見つかりません").
			WithTarget(p).WithReason(reason).WithRemedies(fix)
	}
	switch {
	case os.IsNotExist(err):
		return "", notFound(txt("the file does not exist", "ファイルが存在しません"))
	case err != nil:
		return "", notFound(usererr.Same(err.Error()))
	case fi.IsDir():
		return "", notFound(txt("this is a folder; name the .kdl file itself", "フォルダーです。.kdl ファイルそのものを指定してください"))
	}
	return p, nil
}

// layout lists the files of a project in the order FleetFlow merges them: cloud.kdl, the root
// file, services/**/*.kdl, stages/**/*.kdl, flow.<stage>.kdl, flow.local.kdl; and beside them
// the files that only give template variables: variables/**/*.kdl and the .env files.
type layout struct {
	cloud, root    string
	services       []string
	stages         []string
	stageOverride  string
	localOverride  string
	variables      []string
	env, envExtern string
	envStage       string
}

// discoverLayout finds the files of the project at root whose root file is rootFile, for stage
// (no stage: no flow.<stage>.kdl and no .env.<stage>).
func discoverLayout(root, rootFile, stage string) (*layout, error) {
	l := &layout{root: rootFile}
	l.cloud = firstFile(root, "cloud.kdl")
	var err error
	if l.services, err = kdlFilesUnder(filepath.Join(root, "services")); err != nil {
		return nil, err
	}
	if l.stages, err = kdlFilesUnder(filepath.Join(root, "stages")); err != nil {
		return nil, err
	}
	if l.variables, err = kdlFilesUnder(filepath.Join(root, "variables")); err != nil {
		return nil, err
	}
	if stage != "" && isSafeFileName(stage) {
		l.stageOverride = firstFile(root, "flow."+stage+".kdl")
		l.envStage = firstFile(root, ".env."+stage)
	}
	l.localOverride = firstFile(root, "flow.local.kdl")
	l.env = firstFile(root, ".env")
	l.envExtern = firstFile(root, ".env.external")
	return l, nil
}

// isSafeFileName keeps a stage name from reaching outside the project when it becomes part of a
// file name (flow.<stage>.kdl): FleetFlow joins it as it is.
func isSafeFileName(s string) bool {
	return s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && !strings.ContainsRune(s, 0)
}

// firstFile returns root/name if it is a file, else root/.fleetflow/name if it is, else "".
func firstFile(root, name string) string {
	for _, p := range []string{filepath.Join(root, name), filepath.Join(root, ".fleetflow", name)} {
		if isFile(p) {
			return p
		}
	}
	return ""
}

// kdlFilesUnder lists the .kdl files under dir, recursively, following symbolic links to folders
// (a loop is cut where a folder comes back), sorted as FleetFlow sorts paths: component by
// component, so `a/x.kdl` comes before `a-b.kdl`. A missing dir has no files.
func kdlFilesUnder(dir string) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	var walk func(dir string) error
	walk = func(dir string) error {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return nil //nolint:nilerr // a dangling link to a folder holds no files, as in FleetFlow
		}
		if seen[real] {
			return nil
		}
		seen[real] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			return configErr(ErrInvalidConfig, "a project folder cannot be read", "プロジェクトのフォルダーを読み込めません").
				WithTarget(dir).WithReason(usererr.Same(err.Error()))
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			fi, err := os.Stat(p)
			if err != nil {
				continue
			}
			switch {
			case fi.IsDir():
				if err := walk(p); err != nil {
					return err
				}
			case fi.Mode().IsRegular() && filepath.Ext(e.Name()) == ".kdl":
				files = append(files, p)
			}
		}
		return nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, nil //nolint:nilerr // no such folder: the layout simply has no files there
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	slices.SortFunc(files, comparePaths)
	return files, nil
}

// comparePaths orders paths component by component, as Rust's PathBuf ordering does.
func comparePaths(a, b string) int {
	return slices.Compare(strings.Split(filepath.ToSlash(a), "/"), strings.Split(filepath.ToSlash(b), "/"))
}
