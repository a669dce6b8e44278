package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fleetflow/flow-build/internal/fleetconfig"
	"github.com/fleetflow/flow-build/internal/usererr"
)

// stageSelection is how flow's commands name the stage and its services, as fleet build does:
// the arguments [[SERVICE] STAGE], -n/--service (repeatable), -s/--stage and FLEET_STAGE.
type stageSelection struct {
	services  []string // -n/--service
	stageFlag string   // -s/--stage

	// Set by complete.
	stage       string   // the stage named (argument, -s or FLEET_STAGE); "" for FleetFlow's rule
	stageArg    string   // the STAGE argument, for the conflict check with -s
	stageEnv    bool     // the stage came from FLEET_STAGE
	onlyService []string // services asked for by name (-n, or the SERVICE argument)
}

// bindStage adds -n and -s; verb says what the command does with the services ("build", "show").
func (s *stageSelection) bindStage(f *pflag.FlagSet, verb string) {
	f.StringArrayVarP(&s.services, "service", "n", nil, verb+" only this service of the stage (repeatable); as fleet build's -n")
	f.StringVarP(&s.stageFlag, "stage", "s", "", "the stage (default: the STAGE argument, else $FLEET_STAGE, else the stage named default, else the only stage)")
}

// stageArgs accepts at most [SERVICE] STAGE.
func stageArgs(command string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > 2 {
			return usageErrorFor(command, usererr.T(
				fmt.Sprintf("too many arguments (%s): give at most SERVICE and STAGE; more services go with -n", strings.Join(args, " ")),
				fmt.Sprintf("引数が多すぎます（%s）: 指定できるのは SERVICE と STAGE までです。複数のサービスは -n で指定してください", strings.Join(args, " "))))
		}
		return nil
	}
}

// completeStage works out the stage and services from the arguments, the flags and FLEET_STAGE.
func (s *stageSelection) completeStage(args []string, getenv func(string) string) {
	s.onlyService = slices.Clone(s.services)
	switch len(args) {
	case 1:
		s.stageArg = args[0]
	case 2:
		s.onlyService = append(s.onlyService, args[0])
		s.stageArg = args[1]
	}
	// The argument and -s name the stage; FLEET_STAGE, exported in a CI job, is only a default, so
	// it never overrides (or, as in FleetFlow, conflicts with) a stage named on the command line.
	s.stage = firstNonEmpty(s.stageArg, s.stageFlag)
	if s.stage == "" {
		s.stage = getenv("FLEET_STAGE")
		s.stageEnv = s.stage != ""
	}
}

// validateStage checks the selection on its own: a stage named twice, an empty service name.
func (s *stageSelection) validateStage(command string) error {
	if s.stageArg != "" && s.stageFlag != "" && s.stageArg != s.stageFlag {
		// What the command does with one service, to say how to ask for it.
		en, ja := "to build only service %s of stage %s", "ステージ %[2]s のサービス %[1]s だけをビルドするには"
		if command == "logs" {
			en, ja = "to show only service %s of stage %s", "ステージ %[2]s のサービス %[1]s だけを表示するには"
		}
		return usageErrorFor(command, usererr.T(
			fmt.Sprintf("the stage is given twice: the argument %s and -s %s; give it once (%s: flow %s -n %s %s)", s.stageArg, s.stageFlag, fmt.Sprintf(en, s.stageArg, s.stageFlag), command, s.stageArg, s.stageFlag),
			fmt.Sprintf("ステージが2回指定されています（引数 %s と -s %s）。どちらか一方にしてください（%s: flow %s -n %s %s）", s.stageArg, s.stageFlag, fmt.Sprintf(ja, s.stageArg, s.stageFlag), command, s.stageArg, s.stageFlag)))
	}
	for _, name := range s.onlyService {
		if name == "" {
			return usageErrorFor(command, txt("-n/--service needs a service name", "-n/--service にはサービス名を指定してください"))
		}
	}
	return nil
}

// noteStageChoice says how the stage was chosen when nobody named it on the command line.
func (s *stageSelection) noteStageChoice(conf *fleetconfig.Config, notef func(usererr.Text)) {
	switch conf.StageChosenBy {
	case "":
		if s.stageEnv {
			notef(txt("stage: %s (from FLEET_STAGE)", "ステージ: %s（FLEET_STAGE による指定）", conf.Stage))
		}
	case "default":
		notef(txt("stage: default (no stage named; the project defines one called default)", "ステージ: default（ステージの指定がないため default を使用します）"))
	case "only":
		notef(txt("stage: %s (no stage named; it is the project's only stage)", "ステージ: %s（ステージの指定がないため、唯一のステージを使用します）", conf.Stage))
	}
}
