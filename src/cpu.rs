//! The CPU a figure was measured on: its model name and the vector extensions that decide which
//! kernels run (gemm's dispatch, the fast paths of `backends/cpu`). Benchmarks name it beside
//! every number, since the machines this project runs on differ (an AMD EPYC and an Intel Xeon
//! have both been seen) and a choice made for one may be wrong on the other.

use std::collections::HashSet;

use serde::Serialize;

/// The vector extensions worth naming, in the order they are listed (as `/proc/cpuinfo` spells
/// them on x86-64).
const FEATURES: [&str; 12] = [
    "fma",
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_fp16",
];

/// What a CPU is, as far as the benchmarks care.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cpu {
    /// The model name (`model name` of `/proc/cpuinfo`), or `unknown` where it says none.
    pub model: String,
    /// `cpu family` and `model` of `/proc/cpuinfo` (x86-64), which tell apart what a
    /// hypervisor's model name may not: `AMD EPYC` family 25 model 1 is a Zen 3 (AVX2), model
    /// 17 a Zen 4 (AVX-512).
    pub family_model: Option<(u32, u32)>,
    /// The extensions of [`FEATURES`] it has.
    pub features: Vec<String>,
    /// Logical processors listed.
    pub logical: usize,
    /// Physical cores: the logical processors less their SMT siblings (`siblings` / `cpu
    /// cores` of `/proc/cpuinfo`; the logical count where it says neither).
    pub physical: usize,
    /// The nominal clock: the `@ 2.10GHz` of the model name where it says one (Intel), else
    /// the highest `cpu MHz` of `/proc/cpuinfo`'s processors (under a hypervisor, the nominal
    /// clock; on a machine that scales its clock, the fastest core's current one).
    pub mhz: Option<f64>,
}

impl Cpu {
    /// This machine's CPU, from `/proc/cpuinfo` (Linux). Elsewhere, or where the file cannot be
    /// read, the model is `unknown` and the features are what the compiler's run-time
    /// detection sees.
    pub fn this_machine() -> Self {
        match std::fs::read_to_string("/proc/cpuinfo") {
            Ok(text) => Self::from_cpuinfo(&text),
            Err(_) => Self {
                model: "unknown".into(),
                family_model: None,
                features: detected(),
                logical: std::thread::available_parallelism().map_or(0, |n| n.get()),
                physical: std::thread::available_parallelism().map_or(0, |n| n.get()),
                mhz: None,
            },
        }
    }

    /// Parses the text of `/proc/cpuinfo`.
    pub fn from_cpuinfo(text: &str) -> Self {
        let field = |name: &str| {
            text.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_string())
            })
        };
        let logical = text
            .lines()
            .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
            .count();
        let number = |name: &str| field(name).and_then(|v| v.parse::<usize>().ok());
        // Physical cores: the distinct (package, core) pairs where every processor names its
        // own (hybrid parts have cores of one and of two threads); otherwise logical
        // processors over threads per core.
        let blocks: Vec<&str> = text
            .split("\n\n")
            .filter(|b| b.lines().any(|l| key_of(l) == "processor"))
            .collect();
        let cores: Option<HashSet<(String, String)>> = blocks
            .iter()
            .map(|b| Some((value_in(b, "physical id")?, value_in(b, "core id")?)))
            .collect();
        let physical = match (cores, number("siblings"), number("cpu cores")) {
            (Some(cores), _, _) if !cores.is_empty() => cores.len(),
            (_, Some(siblings), Some(per_package))
                if per_package > 0 && siblings >= per_package =>
            {
                (logical / (siblings / per_package)).max(1)
            }
            _ => logical,
        };
        // x86-64 says `flags`, Arm `Features`.
        let flags = field("flags").or_else(|| field("Features"));
        let flags: Vec<&str> = flags
            .as_deref()
            .map_or(Vec::new(), |f| f.split_whitespace().collect());
        Self {
            model: field("model name")
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "unknown".into()),
            family_model: field("cpu family")
                .and_then(|f| f.parse().ok())
                .zip(field("model").and_then(|m| m.parse().ok())),
            features: FEATURES
                .iter()
                .filter(|f| flags.contains(f))
                .map(|f| f.to_string())
                .collect(),
            logical,
            physical,
            mhz: nominal_mhz(text, field("model name").as_deref()),
        }
    }

    /// Single-precision operations a core can start per cycle: two fused multiply-add units
    /// (two operations per lane) of its widest vectors, 16 lanes with AVX-512, 8 with AVX2 and
    /// FMA. That is the server parts this project has run on: Intel Xeon Gold and Platinum
    /// (some smaller Xeons have one AVX-512 unit, and half this), AMD Zen 2 and 3; Zen 4
    /// (family 25 with AVX-512) runs AVX-512 on its two 256-bit units, so 8 lanes there too.
    /// `None` for the CPUs this does not know (no FMA, or not x86-64).
    pub fn flops_per_cycle(&self) -> Option<u32> {
        let has = |f: &str| self.features.iter().any(|g| g == f);
        let zen4 = self.model.contains("AMD") && matches!(self.family_model, Some((25, _)));
        if has("avx512f") && !zen4 {
            Some(2 * 16 * 2)
        } else if has("avx2") && has("fma") {
            Some(2 * 8 * 2)
        } else {
            None
        }
    }

    /// The single-precision peak of `threads` threads in GFLOP/s: one physical core each (at
    /// most all of them) at the nominal clock ([`Cpu::mhz`]), times [`Cpu::flops_per_cycle`].
    /// Below the true peak where the cores boost above that clock. `None` where either is
    /// unknown.
    pub fn peak_gflops(&self, threads: usize) -> Option<f64> {
        let cores = threads.min(self.physical).max(1) as f64;
        let per_cycle = f64::from(self.flops_per_cycle()?);
        Some(cores * self.mhz? / 1000.0 * per_cycle)
    }

    /// One line: `Intel(R) Xeon(R) Processor (2 logical; fma avx2 avx512f ...)`, or with the
    /// family and model where known: `AMD EPYC (family 25 model 1; 2 logical; fma avx2)`.
    pub fn summary(&self) -> String {
        format!(
            "{} ({}{} logical; {})",
            self.model,
            self.family_model
                .map_or(String::new(), |(f, m)| format!("family {f} model {m}; ")),
            self.logical,
            if self.features.is_empty() {
                "no AVX2".to_string()
            } else {
                self.features.join(" ")
            }
        )
    }
}

/// The key of a `/proc/cpuinfo` line (`model name` of `model name\t: AMD EPYC`).
fn key_of(line: &str) -> &str {
    line.split(':').next().unwrap_or("").trim()
}

/// The value of `key` in one processor's block of `/proc/cpuinfo`.
fn value_in(block: &str, key: &str) -> Option<String> {
    block.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The nominal clock in MHz: the model name's `@ 2.10GHz`, else the highest `cpu MHz`.
fn nominal_mhz(text: &str, model: Option<&str>) -> Option<f64> {
    let from_name = model
        .and_then(|m| m.rsplit_once('@'))
        .and_then(|(_, clock)| clock.trim().strip_suffix("GHz"))
        .and_then(|ghz| ghz.trim().parse::<f64>().ok())
        .map(|ghz| ghz * 1000.0);
    let highest = text
        .lines()
        .filter_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == "cpu MHz").then(|| v.trim().parse::<f64>().ok())?
        })
        .fold(None, |max: Option<f64>, mhz| {
            Some(max.map_or(mhz, |m| m.max(mhz)))
        });
    from_name
        .or(highest)
        .filter(|mhz| mhz.is_finite() && *mhz > 0.0)
}

/// The extensions of [`FEATURES`] that run-time detection sees (x86-64), for systems without
/// `/proc/cpuinfo`.
fn detected() -> Vec<String> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let checks = [
            ("fma", std::is_x86_feature_detected!("fma")),
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ("avx512bw", std::is_x86_feature_detected!("avx512bw")),
            ("avx512vl", std::is_x86_feature_detected!("avx512vl")),
        ];
        found.extend(checks.iter().filter(|c| c.1).map(|c| c.0.to_string()));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intel_and_amd_are_told_apart() {
        let xeon = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu \
                    fma avx2 avx512f avx512bw avx512vl avx512_fp16 amx_tile sse4_2\n\n\
                    processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n";
        let cpu = Cpu::from_cpuinfo(xeon);
        assert_eq!(cpu.model, "Intel(R) Xeon(R) Processor");
        assert_eq!(
            cpu.features,
            [
                "fma",
                "avx2",
                "avx512f",
                "avx512bw",
                "avx512vl",
                "avx512_fp16",
                "amx_tile"
            ]
        );
        assert_eq!(cpu.logical, 2);
        assert!(
            cpu.summary()
                .starts_with("Intel(R) Xeon(R) Processor (2 logical; fma avx2")
        );

        let epyc = "processor : 0\ncpu family : 25\nmodel : 1\nmodel name : AMD EPYC\n\
                    flags : fma avx2 sse4a\n";
        let cpu = Cpu::from_cpuinfo(epyc);
        assert_eq!(cpu.model, "AMD EPYC");
        assert_eq!(cpu.family_model, Some((25, 1)));
        assert_eq!(cpu.features, ["fma", "avx2"]);
        assert_eq!(
            cpu.summary(),
            "AMD EPYC (family 25 model 1; 1 logical; fma avx2)"
        );
    }

    #[test]
    fn the_peak_counts_physical_cores_at_the_reported_clock() {
        let core = |n: usize| {
            format!(
                "processor : {n}\nmodel name : AMD EPYC\ncpu MHz : 2500.000\nsiblings : 4\n\
                 cpu cores : 2\nflags : fma avx2\n\n"
            )
        };
        let cpu = Cpu::from_cpuinfo(&(0..4).map(core).collect::<String>());
        assert_eq!((cpu.logical, cpu.physical, cpu.mhz), (4, 2, Some(2500.0)));
        assert_eq!(cpu.flops_per_cycle(), Some(32));
        // Two threads: two cores; four threads still two (SMT siblings share the units).
        assert_eq!(cpu.peak_gflops(2), Some(160.0));
        assert_eq!(cpu.peak_gflops(4), Some(160.0));
        assert_eq!(cpu.peak_gflops(1), Some(80.0));

        let xeon = "processor : 0\ncpu MHz : 2000\nflags : fma avx2 avx512f\n";
        assert_eq!(Cpu::from_cpuinfo(xeon).peak_gflops(1), Some(128.0));
        // The model name's clock over a scaled-down current one.
        let named = "processor : 0\nmodel name : Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\n\
                     cpu MHz : 800.000\nflags : fma avx2 avx512f\n";
        assert_eq!(Cpu::from_cpuinfo(named).mhz, Some(2000.0));
        // Zen 4 runs AVX-512 at AVX2's width.
        let zen4 = "processor : 0\nmodel name : AMD EPYC 9B14\ncpu family : 25\nmodel : 17\n\
                    cpu MHz : 2000\nflags : fma avx2 avx512f\n";
        assert_eq!(Cpu::from_cpuinfo(zen4).flops_per_cycle(), Some(32));
        // No clock, or no FMA: no peak rather than a made-up one.
        assert_eq!(
            Cpu::from_cpuinfo("processor : 0\nflags : fma avx2\n").peak_gflops(1),
            None
        );
        assert_eq!(
            Cpu::from_cpuinfo("processor : 0\ncpu MHz : 2000\nflags : sse2\n").peak_gflops(1),
            None
        );
    }

    #[test]
    fn a_hybrid_cpu_counts_its_cores_not_its_threads_per_core() {
        // Two two-thread cores and two one-thread cores: 6 logical, 4 physical (siblings 6 /
        // cpu cores 4 would say 6).
        let block = |n: usize, core: usize| {
            format!(
                "processor : {n}\nphysical id : 0\ncore id : {core}\nsiblings : 6\n\
                 cpu cores : 4\nflags : fma avx2\n\n"
            )
        };
        let text: String = [(0, 0), (1, 0), (2, 4), (3, 4), (4, 8), (5, 9)]
            .iter()
            .map(|&(n, core)| block(n, core))
            .collect();
        let cpu = Cpu::from_cpuinfo(&text);
        assert_eq!((cpu.logical, cpu.physical), (6, 4));
    }

    #[test]
    fn a_cpuinfo_without_a_model_says_unknown() {
        let cpu = Cpu::from_cpuinfo("processor : 0\nBogoMIPS : 50.00\n");
        assert_eq!(cpu.model, "unknown");
        assert!(cpu.features.is_empty());
        assert!(cpu.summary().contains("no AVX2"));
    }
}
