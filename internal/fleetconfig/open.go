package fleetconfig

import (
	"slices"
	"strings"
)

// Options say which project to open and for which stage.
type Options struct {
	// File is -f; WorkDir the folder discovery starts from (see Discover).
	File, WorkDir string
	// Stage is the stage named on the command line or in FLEET_STAGE; "" applies FleetFlow's rule:
	// the stage named default, else the only stage.
	Stage string
	// Getenv reads the environment (nil means os.Getenv); Environ lists it, for the FLEET_*,
	// CI_* and APP_* template variables.
	Getenv  func(string) string
	Environ []string
}

// Open finds the project, chooses the stage and loads the project for it.
//
// With no stage named, FleetFlow's rule chooses one: `default` if the project defines it, else
// the only stage, else an error listing the stages. Unlike FleetFlow, which loads the project
// before choosing and so never applies that stage's flow.<stage>.kdl, .env.<stage>, variables
// and service blocks, Open reads the stage names first (a lenient look at the files, where an
// undefined template variable is empty text) and then loads the project for the stage chosen.
func Open(o Options) (*Config, error) {
	file, err := Discover(o.File, o.WorkDir, o.Getenv)
	if err != nil {
		return nil, err
	}
	opts := LoadOptions{Stage: o.Stage, Getenv: o.Getenv, Environ: o.Environ}
	if o.Stage != "" {
		return Load(file, opts)
	}
	first, err := Load(file, LoadOptions{Getenv: o.Getenv, Environ: o.Environ, lenient: true})
	if err != nil {
		// A file that does not even parse leniently: the strict load names the real problem.
		if _, strictErr := Load(file, opts); strictErr != nil {
			return nil, strictErr
		}
		return nil, err
	}
	stage, how, err := chooseStage(first)
	if err != nil {
		return nil, err
	}
	opts.Stage = stage
	cfg, err := Load(file, opts)
	if err != nil {
		return nil, err
	}
	cfg.StageChosenBy = how
	return cfg, nil
}

// chooseStage is FleetFlow's determine_stage_name: `default` if defined, else the only stage.
func chooseStage(c *Config) (string, string, error) {
	stages := c.Stages()
	switch {
	case slices.Contains(stages, "default"):
		return "default", "default", nil
	case len(stages) == 1:
		return stages[0], "only", nil
	case len(stages) == 0:
		return "", "", configErr(ErrNoStage, "the project defines no stages", "このプロジェクトにはステージが定義されていません").
			WithTarget(c.File).
			WithRemedies(txt("add a stage listing the services to build, e.g. stage \"prod\" { service \"api\" }", "ビルドするサービスを並べたステージを追加してください（例: stage \"prod\" { service \"api\" }）"))
	}
	// FleetFlow's wording, with flow's command and the stages sorted (FleetFlow's order is random).
	return "", "", configErr(ErrNoStage, "name the stage: flow build <stage> or FLEET_STAGE=<stage>", "ステージ名を指定してください: flow build <stage> または FLEET_STAGE=<stage>").
		WithLines(txt("available stages: %s", "利用可能なステージ: %s", strings.Join(stages, ", ")))
}
