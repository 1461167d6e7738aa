package bench

import (
	"slices"
	"strings"
	"time"

	"github.com/eqgate/eqgate/bench/flood"
)

// Scenarios are named presets, so results are comparable run to run.
// Explicit options (eqbench flags) override a preset's fields.
var scenarios = map[string]Options{
	// zone: a busy zone server: thousands of players at game-like rates,
	// mostly small position and chat packets with an occasional large one
	// (spawn lists, inventory), about 10 messages per second each.
	"zone": {Sessions: 2000, Rate: 10, Window: 16, Duration: 20 * time.Second,
		Sizes: Sizes{{Min: 16, Max: 200, Weight: 95}, {Min: 1024, Max: 4096, Weight: 5}}},
	// burst: sessions that go quiet and then send a burst of 32 at once
	// (zoning, a raid pull), twice a second.
	"burst": {Sessions: 200, Rate: 64, Burst: 32, Window: 64, Duration: 10 * time.Second,
		Sizes: Sizes{{Min: 16, Max: 512, Weight: 1}}},
	// flood: SessionRequests from many endpoints at 5000/s while 100
	// legitimate sessions play; they must keep working.
	"flood": {Sessions: 100, Rate: 10, Window: 16, Duration: 10 * time.Second,
		Sizes: Sizes{{Min: 16, Max: 200, Weight: 1}},
		Flood: flood.Options{Count: 50000, Rate: 5000, Sources: 64}},
}

// ScenarioNames lists the scenarios, sorted.
func ScenarioNames() []string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ScenarioOptions returns the preset called name, with Scenario set.
func ScenarioOptions(name string) (Options, bool) {
	o, ok := scenarios[name]
	if !ok {
		return Options{}, false
	}
	o.Scenario = name
	o.Sizes = slices.Clone(o.Sizes)
	return o, true
}

// ScenarioHelp is one line per scenario, for usage text.
func ScenarioHelp() string {
	var b strings.Builder
	for _, n := range ScenarioNames() {
		o := scenarios[n]
		b.WriteString("  " + n + ": " + itoa(o.Sessions) + " sessions, " + RateString(o.Rate, o.Burst) + ", window " + itoa(o.Window) + ", sizes " + o.Sizes.String())
		if o.Flood.Count > 0 {
			b.WriteString(", flood of " + itoa(o.Flood.Count) + " SessionRequests from " + itoa(o.Flood.Sources) + " addresses")
		}
		b.WriteByte('\n')
	}
	return b.String()
}
