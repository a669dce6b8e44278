package fleetconfig

import (
	"strings"
)

// parseDotenv reads a .env file the way FleetFlow does: line by line, trimmed; empty lines and
// lines starting with # are skipped, as are lines without `=`; the key is what comes before the
// first `=` and the value what follows, both trimmed; one pair of matching surrounding quotes
// ("…" or '…') is removed. There are no escapes, no inline comments (`A=1 # x` is `1 # x`) and no
// interpolation. Unlike FleetFlow, a leading `export ` is dropped, as shells and other .env
// readers do (FleetFlow makes it part of the key, which no template can name).
func parseDotenv(data string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		if rest, ok := strings.CutPrefix(key, "export "); ok {
			key = strings.TrimSpace(rest)
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		if key != "" {
			vars[key] = value
		}
	}
	return vars
}
