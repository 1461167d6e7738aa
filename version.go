package eqgate

import (
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set at link time for releases:
//
//	go build -ldflags "-X github.com/eqgate/eqgate.version=v1.2.3" ./cmd/eqgate
var version string

// Version is eqgate's version: the link-time version when set, else the
// module version from the build info (a tagged dependency's "v1.2.3", or
// "(devel)" built inside the module), with the VCS revision when the build
// recorded one ("(devel)+3f2a9c1d0e4b", "+dirty" for modified trees).
var Version = sync.OnceValue(func() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if bi.Main.Path != "github.com/eqgate/eqgate" {
		v = "unknown"
		for _, d := range bi.Deps {
			if d.Path == "github.com/eqgate/eqgate" {
				v = d.Version
			}
		}
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		v += "+" + rev + dirty
	}
	return v
})

// BuildInfoCollector returns a collector of one series,
// eqgate_build_info{version, goversion} = 1 (Version and runtime.Version).
// It describes the process, not an engine: register it once per registry.
func BuildInfoCollector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "eqgate_build_info",
		Help:        "Always 1; the labels say which eqgate and which Go built the process.",
		ConstLabels: prometheus.Labels{"version": Version(), "goversion": runtime.Version()},
	}, func() float64 { return 1 })
}
