//! The CPU a figure was measured on: its model name and the vector extensions that decide which
//! kernels run (gemm's dispatch, the fast paths of `backends/cpu`). Benchmarks name it beside
//! every number, since the machines this project runs on differ (an AMD EPYC and an Intel Xeon
//! have both been seen) and a choice made for one may be wrong on the other.

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
    /// The clock `/proc/cpuinfo` reports (`cpu MHz`): under a hypervisor, the nominal one.
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
        // Logical processors per physical core.
        let threads_per_core = match (number("siblings"), number("cpu cores")) {
            (Some(siblings), Some(cores)) if cores > 0 && siblings >= cores => {
                Some(siblings / cores)
            }
            _ => None,
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
            physical: threads_per_core.map_or(logical, |t| (logical / t).max(1)),
            mhz: field("cpu MHz")
                .and_then(|m| m.parse::<f64>().ok())
                .filter(|m| m.is_finite() && *m > 0.0),
        }
    }

    /// Single-precision operations a core can start per cycle: two fused multiply-add units
    /// (two operations per lane) of the widest vectors it has, 16 lanes with AVX-512, 8 with
    /// AVX2 and FMA, as on the server parts this project has run on (AMD Zen 2 and later,
    /// Intel Xeon Gold and Platinum; some smaller Xeons have one AVX-512 unit, and would have
    /// half this). `None` for the CPUs this does not know (no FMA, or not x86-64).
    pub fn flops_per_cycle(&self) -> Option<u32> {
        let has = |f: &str| self.features.iter().any(|g| g == f);
        if has("avx512f") {
            Some(2 * 16 * 2)
        } else if has("avx2") && has("fma") {
            Some(2 * 8 * 2)
        } else {
            None
        }
    }

    /// The single-precision peak of `threads` threads in GFLOP/s: one physical core each (at
    /// most all of them) at the reported clock, times [`Cpu::flops_per_cycle`]. A lower bound
    /// where the cores boost above the reported clock. `None` where either is unknown.
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
    fn a_cpuinfo_without_a_model_says_unknown() {
        let cpu = Cpu::from_cpuinfo("processor : 0\nBogoMIPS : 50.00\n");
        assert_eq!(cpu.model, "unknown");
        assert!(cpu.features.is_empty());
        assert!(cpu.summary().contains("no AVX2"));
    }
}
