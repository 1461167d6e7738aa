package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUSource reads a server's cumulative CPU time (user + system).
type CPUSource interface {
	Read() (CPUReading, error)
}

// CPUReading is one reading of a CPUSource.
type CPUReading struct {
	CPU time.Duration
	// Resends is the server's eqgate_resends_total, when the source is a
	// metrics endpoint that has it (HasResends).
	Resends    uint64
	HasResends bool
}

// ErrNoMetric: the scraped page has no process_cpu_seconds_total.
var ErrNoMetric = errors.New("bench: no process_cpu_seconds_total in the metrics page")

// MetricsCPU scrapes a Prometheus text exposition (URL, e.g.
// http://127.0.0.1:9100/metrics) for process_cpu_seconds_total and the sum
// of eqgate_resends_total.
type MetricsCPU struct {
	URL    string
	Client *http.Client // nil: a client with a 5 s timeout
}

var _ CPUSource = MetricsCPU{}

func (m MetricsCPU) Read() (CPUReading, error) {
	c := m.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, m.URL, nil)
	if err != nil {
		return CPUReading{}, err
	}
	// Text format only: the parser below does not read protobuf.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return CPUReading{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return CPUReading{}, errors.New("bench: metrics scrape: " + resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20))
}

// parseMetrics reads the values eqbench needs from a text exposition.
func parseMetrics(r io.Reader) (CPUReading, error) {
	var out CPUReading
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		metric := name
		if i := strings.IndexByte(name, '{'); i >= 0 {
			metric = name[:i]
			// Labels may contain spaces: the value follows the closing brace.
			j := strings.LastIndexByte(line, '}')
			if j < 0 {
				continue
			}
			rest = line[j+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		switch metric {
		case "process_cpu_seconds_total":
			out.CPU = time.Duration(v * 1e9)
			found = true
		case "eqgate_resends_total":
			out.Resends += uint64(v)
			out.HasResends = true
		}
	}
	if err := sc.Err(); err != nil {
		return CPUReading{}, err
	}
	if !found {
		return CPUReading{}, ErrNoMetric
	}
	return out, nil
}

// ProcCPU reads utime+stime of a process from /proc/PID/stat (Linux);
// PID 0 means this process.
type ProcCPU struct{ PID int }

var _ CPUSource = ProcCPU{}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports (the kernel fixes it for the ABI,
// include/asm-generic/param.h), so no sysconf call is needed.
const clockTicks = 100

func (p ProcCPU) Read() (CPUReading, error) {
	path := "/proc/self/stat"
	if p.PID > 0 {
		path = "/proc/" + strconv.Itoa(p.PID) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return CPUReading{}, err
	}
	d, err := parseProcStat(b)
	return CPUReading{CPU: d}, err
}

// ErrProcStat: /proc/PID/stat did not have the expected shape.
var ErrProcStat = errors.New("bench: cannot parse /proc/PID/stat")

// parseProcStat returns utime+stime (fields 14 and 15) of a stat line. The
// command name (field 2) is in parentheses and may contain spaces and
// parentheses, so fields are counted after the last ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, ErrProcStat
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14 -> f[11], stime f[12].
	if len(f) < 13 {
		return 0, ErrProcStat
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, ErrProcStat
	}
	return time.Duration(ut+st) * (time.Second / clockTicks), nil
}
