package bench

import (
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/eqgate/eqgate"
)

// Env is where a result was measured, recorded with it so that two
// reports can be compared: the same command on another build, Go or host
// is another experiment.
type Env struct {
	Command   []string `json:"command,omitempty"` // the command line (Options.Command)
	Version   string   `json:"eqgate_version"`    // eqgate.Version of the client binary
	GoVersion string   `json:"go_version"`
	OS        string   `json:"os"`
	Arch      string   `json:"arch"`
	Cores     int      `json:"cores"`          // runtime.NumCPU: the cores this process may use
	Kernel    string   `json:"kernel"`         // kernel release; "" where unknown
	Hostname  string   `json:"host,omitempty"` // "" where unknown
}

// kernelRelease is the running kernel's release (Linux: procfs, which
// needs no syscall package); "" elsewhere.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// CurrentEnv describes this process and host, with command as its
// command line.
func CurrentEnv(command []string) Env {
	host, _ := os.Hostname() // "" is the documented unknown
	return Env{
		Command: command, Version: eqgate.Version(), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, Cores: runtime.NumCPU(),
		Kernel: kernelRelease(), Hostname: host,
	}
}

// String is the environment on one line, for reports.
func (e Env) String() string {
	s := "eqgate " + e.Version + ", " + e.GoVersion + ", " + e.OS + "/" + e.Arch + ", " + strconv.Itoa(e.Cores) + " cores"
	if e.Kernel != "" {
		s += ", kernel " + e.Kernel
	}
	if e.Hostname != "" {
		s += ", host " + e.Hostname
	}
	return s
}
