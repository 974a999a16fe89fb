// Command composecheck loads Compose files the way `docker compose config` does, without
// needing a Docker engine: it validates them against the Compose Specification JSON schema,
// interpolates ${VARS} from the process environment (and a .env file next to the first
// file), normalizes, resolves relative paths, checks consistency (undefined volumes,
// secrets, networks, depends_on targets), and prints the normalized project as JSON.
//
// Usage:
//
//	composecheck docker-compose.yml [override.yml ...] > project.json
//
// Exit status: 0 valid, 1 invalid (the reason on stderr), 2 usage error. Loader warnings
// (an unset variable defaulting to "", an obsolete `version:` key) count as failures, so a
// typo in a variable name cannot slip through.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/sirupsen/logrus"
)

// warningCollector records every warning the loader logs.
type warningCollector struct {
	mu       sync.Mutex
	messages []string
}

func (w *warningCollector) Levels() []logrus.Level {
	return []logrus.Level{logrus.WarnLevel}
}

func (w *warningCollector) Fire(entry *logrus.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, entry.Message)
	return nil
}

func load(ctx context.Context, files []string) ([]byte, error) {
	workingDir, err := filepath.Abs(filepath.Dir(files[0]))
	if err != nil {
		return nil, err
	}
	options, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(workingDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithLoadOptions(func(o *loader.Options) {
			// Spelled out so no default can quietly turn the checks off.
			o.SkipValidation = false
			o.SkipInterpolation = false
		}),
	)
	if err != nil {
		return nil, err
	}
	project, err := options.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	return project.MarshalJSON()
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE [OVERRIDE_FILE ...]")
		os.Exit(2)
	}
	warnings := &warningCollector{}
	logrus.AddHook(warnings)

	out, err := load(context.Background(), os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: invalid: %v\n", err)
		os.Exit(1)
	}
	if len(warnings.messages) > 0 {
		for _, m := range warnings.messages {
			fmt.Fprintf(os.Stderr, "composecheck: warning treated as error: %s\n", m)
		}
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(append(out, '\n')); err != nil {
		fmt.Fprintf(os.Stderr, "composecheck: %v\n", err)
		os.Exit(1)
	}
}
