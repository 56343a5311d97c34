package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// withConfigFile gives cmd a --config flag (env GATEHOUSE_CONFIG): a YAML
// file whose keys are cmd's flags, applied before cmd runs. A flag given
// on the command line or in its environment variable wins over the file.
func withConfigFile(cmd *cobra.Command, getenv func(string) string) *cobra.Command {
	var path string
	cmd.Flags().StringVar(&path, "config", getenv(config.EnvName("config")),
		"YAML file whose keys are this command's flags, e.g. api-addr: 127.0.0.1:8080; flags and environment variables override it (env GATEHOUSE_CONFIG)")
	pre := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if path != "" {
			if err := config.LoadFile(configFlags(cmd), path, getenv); err != nil {
				return err
			}
		}
		if pre != nil {
			return pre(cmd, args)
		}
		return nil
	}
	return cmd
}

// configFlags is every flag of cmd, its own and inherited (such as
// --database-url), but those that are never keys of a config file.
func configFlags(cmd *cobra.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
	add := func(f *pflag.Flag) {
		for _, skip := range config.Skipped {
			if f.Name == skip {
				return
			}
		}
		if fs.Lookup(f.Name) == nil {
			fs.AddFlag(f)
		}
	}
	cmd.LocalFlags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	return fs
}
