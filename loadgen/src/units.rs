//! Parsing of the human-friendly values the command line takes: durations
//! (`10s`, `500ms`, `2m`, `1h`, `1.5s`) and CPU lists (`1`, `0,2`, `2-5`).

use std::time::Duration;

use anyhow::{bail, Context};

/// Parses `<number><unit>` with unit `ns`, `us`, `ms`, `s`, `m` or `h`; a
/// bare number is seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration (examples: 10s, 500ms, 2m, 1h)"))?;
    let seconds_per_unit = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => bail!("{text:?}: unknown unit {other:?} (use ns, us, ms, s, m or h)"),
    };
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || seconds > 1e9 {
        bail!("{text:?} is too long");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses a CPU list as `taskset -c` takes it: `0`, `1,3`, `2-5`, `0-1,4`.
pub fn parse_cpu_list(text: &str) -> anyhow::Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parse = |s: &str| {
            s.trim()
                .parse::<usize>()
                .with_context(|| format!("CPU list {text:?}: {s:?} is not a CPU number"))
        };
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (parse(first)?, parse(last)?);
                if first > last {
                    bail!("CPU list {text:?}: range {part:?} runs backwards");
                }
                cpus.extend(first..=last);
            }
            None => cpus.push(parse(part)?),
        }
    }
    if cpus.is_empty() {
        bail!("CPU list {text:?} names no CPU");
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(cpus)
}

/// A parsed CPU list. A newtype, because clap would take a bare `Vec` as
/// an option given several times.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct CpuList(pub Vec<usize>);

impl CpuList {
    /// The CPU for thread `index`, round-robin.
    pub fn for_thread(&self, index: usize) -> usize {
        self.0[index % self.0.len()]
    }

    /// Pins the calling thread to the CPU for thread `index`; says so on
    /// stderr when it cannot (a CPU outside the process's affinity mask).
    pub fn pin_current_thread(&self, index: usize) {
        let cpu = self.for_thread(index);
        if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
            eprintln!("loadgen: could not pin thread {index} to CPU {cpu}");
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate with an SI suffix: `612.3k`, `1.04M`.
pub fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else {
        format!("{value:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert!(parse_duration("ten")
            .unwrap_err()
            .to_string()
            .contains("examples"));
        assert!(parse_duration("5d")
            .unwrap_err()
            .to_string()
            .contains("unknown unit"));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert_eq!(parse_cpu_list("0-2,5,1").unwrap(), vec![0, 1, 2, 5]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }

    #[test]
    fn number_formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(si(612_345.0), "612.3k");
        assert_eq!(si(1_040_000.0), "1.04M");
        assert_eq!(si(12.0), "12.0");
    }
}
