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
    /// The extensions of [`FEATURES`] it has.
    pub features: Vec<String>,
    /// Logical processors listed.
    pub logical: usize,
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
                features: detected(),
                logical: std::thread::available_parallelism().map_or(0, |n| n.get()),
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
        // x86-64 says `flags`, Arm `Features`.
        let flags = field("flags").or_else(|| field("Features"));
        let flags: Vec<&str> = flags
            .as_deref()
            .map_or(Vec::new(), |f| f.split_whitespace().collect());
        Self {
            model: field("model name")
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "unknown".into()),
            features: FEATURES
                .iter()
                .filter(|f| flags.contains(f))
                .map(|f| f.to_string())
                .collect(),
            logical: text
                .lines()
                .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
                .count(),
        }
    }

    /// One line: `Intel(R) Xeon(R) Processor (2 logical; fma avx2 avx512f ...)`.
    pub fn summary(&self) -> String {
        format!(
            "{} ({} logical; {})",
            self.model,
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

        let epyc = "processor : 0\nmodel name : AMD EPYC 7B13\nflags : fma avx2 sse4a\n";
        let cpu = Cpu::from_cpuinfo(epyc);
        assert_eq!(cpu.model, "AMD EPYC 7B13");
        assert_eq!(cpu.features, ["fma", "avx2"]);
    }

    #[test]
    fn a_cpuinfo_without_a_model_says_unknown() {
        let cpu = Cpu::from_cpuinfo("processor : 0\nBogoMIPS : 50.00\n");
        assert_eq!(cpu.model, "unknown");
        assert!(cpu.features.is_empty());
        assert!(cpu.summary().contains("no AVX2"));
    }
}
