package profiles

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/sgnas/sgnas/infer"
)

// Fingerprint describes the device and runtime settings a profile was
// measured with. A profile is refused on a device whose CPU model, ISA
// flags, cores, ORT version, EP, GPU, threads, batch or graph optimisation
// level differ (Compare); memory and OS differences are reported but allowed.
type Fingerprint struct {
	CPUModel   string   `json:"cpu_model"`
	ISA        []string `json:"isa_flags"` // sorted ISA-relevant /proc/cpuinfo flags (sse*, avx*, fma, amx*, asimd, …)
	Cores      int      `json:"cores"`
	MemoryMB   int64    `json:"memory_mb"`
	OS         string   `json:"os"` // GOOS/GOARCH and kernel release
	ORTVersion string   `json:"ort_version"`
	EP         string   `json:"ep"`
	GPU        string   `json:"gpu,omitempty"`
	Threads    int      `json:"threads"`
	Batch      int      `json:"batch"`
	OptLevel   int      `json:"graph_opt_level"`
}

// isaPrefixes select the /proc/cpuinfo flags that describe instruction sets
// (what ORT's kernels dispatch on); flags such as "hypervisor" or "rep_good"
// are left out so that they do not make profiles needlessly incompatible.
var isaPrefixes = []string{"sse", "ssse3", "avx", "fma", "f16c", "bmi", "amx", "vnni", "popcnt", "movbe", "sha", "aes", "vaes", "vpclmul", "gfni", "adx", "asimd", "sve", "fp16", "bf16", "i8mm", "dotprod", "neon", "fphp", "asimdhp", "asimddp"}

// ISAFlags returns the sorted ISA-relevant CPU flags of this machine
// (/proc/cpuinfo "flags" or "Features"); nil when unknown.
func ISAFlags() []string { return isaFlagsFrom(readCPUInfo()) }

func readCPUInfo() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	return string(b)
}

func isaFlagsFrom(cpuinfo string) []string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if k != "flags" && k != "Features" {
			continue
		}
		var out []string
		for _, f := range strings.Fields(v) {
			for _, p := range isaPrefixes {
				if strings.HasPrefix(f, p) {
					out = append(out, f)
					break
				}
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return nil
}

func memoryMB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb / 1024
		}
	}
	return 0
}

func osString() string {
	s := runtime.GOOS + "/" + runtime.GOARCH
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		s += " " + strings.TrimSpace(string(b))
	}
	return s
}

// CurrentFingerprint describes this machine for the given settings. ONNX
// Runtime must be initialised (infer.Init) for its version to be known.
func CurrentFingerprint(ep string, threads, batch, optLevel int) Fingerprint {
	if ep == "" {
		ep = "cpu"
	}
	if batch <= 0 {
		batch = 1
	}
	d := infer.Device(ep, threads, optLevel)
	return Fingerprint{
		CPUModel: d.CPUModel, ISA: ISAFlags(), Cores: d.Cores, MemoryMB: memoryMB(), OS: osString(),
		ORTVersion: d.ORTVersion, EP: ep, GPU: d.GPU, Threads: threads, Batch: batch, OptLevel: optLevel,
	}
}

// String is a one-line description.
func (f Fingerprint) String() string {
	gpu := ""
	if f.GPU != "" {
		gpu = ", GPU " + f.GPU
	}
	return fmt.Sprintf("%s (%d cores, %d ISA flags%s), %s, ONNX Runtime %s, EP %s, %d threads, batch %d, graph opt %d",
		f.CPUModel, f.Cores, len(f.ISA), gpu, f.OS, f.ORTVersion, f.EP, f.Threads, f.Batch, f.OptLevel)
}

// Compare lists what differs between a profile's fingerprint f and the
// current device cur: blocking differences (which make the profile invalid
// for cur) and informational ones (memory, OS).
func (f Fingerprint) Compare(cur Fingerprint) (blocking, info []string) {
	str := func(name, a, b string) {
		if a != b {
			blocking = append(blocking, fmt.Sprintf("%s %q vs %q here", name, a, b))
		}
	}
	num := func(name string, a, b int) {
		if a != b {
			blocking = append(blocking, fmt.Sprintf("%s %d vs %d here", name, a, b))
		}
	}
	str("CPU", f.CPUModel, cur.CPUModel)
	if !slices.Equal(f.ISA, cur.ISA) {
		var only, missing []string
		for _, x := range f.ISA {
			if !slices.Contains(cur.ISA, x) {
				only = append(only, x)
			}
		}
		for _, x := range cur.ISA {
			if !slices.Contains(f.ISA, x) {
				missing = append(missing, x)
			}
		}
		d := "ISA flags differ"
		if len(only) > 0 {
			d += " (profile only: " + strings.Join(only, " ") + ")"
		}
		if len(missing) > 0 {
			d += " (here only: " + strings.Join(missing, " ") + ")"
		}
		blocking = append(blocking, d)
	}
	num("cores", f.Cores, cur.Cores)
	str("ONNX Runtime", f.ORTVersion, cur.ORTVersion)
	str("EP", f.EP, cur.EP)
	str("GPU", f.GPU, cur.GPU)
	num("threads", f.Threads, cur.Threads)
	num("batch", f.Batch, cur.Batch)
	num("graph opt level", f.OptLevel, cur.OptLevel)
	if f.MemoryMB != cur.MemoryMB {
		info = append(info, fmt.Sprintf("memory %d MB vs %d MB here", f.MemoryMB, cur.MemoryMB))
	}
	if f.OS != cur.OS {
		info = append(info, fmt.Sprintf("OS %q vs %q here", f.OS, cur.OS))
	}
	return blocking, info
}
