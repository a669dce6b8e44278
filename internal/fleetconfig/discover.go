package fleetconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvConfigPath names the environment variable that points at the config file, as in FleetFlow.
const EnvConfigPath = "FLEETFLOW_CONFIG_PATH"

// ConfigFileNames are the names looked for in each folder, in order of preference.
var ConfigFileNames = []string{".fleetflow/fleet.kdl", "fleet.kdl", "flow.kdl"}

// Discover finds the config file the way FleetFlow does: explicitFile (the CLI's -f) first, else
// the file named by FLEETFLOW_CONFIG_PATH, else the first of ConfigFileNames found in workDir or
// in the nearest folder above it. Relative paths are taken from workDir. getenv reads the
// environment (nil means os.Getenv). The path returned is absolute.
//
// FLEETFLOW_CONFIG_PATH may also name a folder, in which case ConfigFileNames are looked for in it
// (and only in it).
func Discover(explicitFile, workDir string, getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	workDir, err := filepath.Abs(workDir)
	if err != nil {
		return "", fmt.Errorf("resolving the working directory: %w", err)
	}
	if explicitFile != "" {
		return checkConfigFile(absFrom(workDir, explicitFile), "given with -f", "fix the path given with -f")
	}
	if env := getenv(EnvConfigPath); env != "" {
		p := absFrom(workDir, env)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			if found := findIn(p); found != "" {
				return found, nil
			}
			return "", fmt.Errorf("%w: %s=%s is a folder without %s; point it at the .kdl file or unset it",
				ErrConfigNotFound, EnvConfigPath, env, strings.Join(ConfigFileNames, ", "))
		}
		return checkConfigFile(p, "named by "+EnvConfigPath, "fix or unset "+EnvConfigPath+", or pass the file with -f")
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
	return "", fmt.Errorf("%w: looked for %s in %s and every folder above it; "+
		"run flow inside a FleetFlow project, pass the file with -f FILE, or set %s",
		ErrConfigNotFound, strings.Join(ConfigFileNames, ", "), workDir, EnvConfigPath)
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
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

func checkConfigFile(p, origin, fix string) (string, error) {
	fi, err := os.Stat(p)
	switch {
	case os.IsNotExist(err):
		return "", fmt.Errorf("%w: config file %s (%s) does not exist; %s", ErrConfigNotFound, p, origin, fix)
	case err != nil:
		return "", fmt.Errorf("%w: config file %s (%s): %w", ErrConfigNotFound, p, origin, err)
	case fi.IsDir():
		return "", fmt.Errorf("%w: config file %s (%s) is a folder; name the .kdl file itself", ErrConfigNotFound, p, origin)
	}
	return p, nil
}
