//! The scenarios as goose test plans: `users,time` steps, each ramping linearly to `users`
//! over `time`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A named load shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 10 users, steady.
    Baseline,
    /// 50 users, steady.
    Normal,
    /// 100 users, steady.
    High,
    /// A tenth of the users, a jump to all of them, and back.
    Spike,
    /// Users added steadily until the thresholds break (or the cap is reached).
    Stress,
}

impl Scenario {
    /// Every scenario, for help texts.
    pub const ALL: [Scenario; 5] = [
        Scenario::Baseline,
        Scenario::Normal,
        Scenario::High,
        Scenario::Spike,
        Scenario::Stress,
    ];

    /// The default number of users (the peak, for spike and stress).
    pub fn default_users(self) -> usize {
        match self {
            Scenario::Baseline => 10,
            Scenario::Normal => 50,
            Scenario::High | Scenario::Spike => 100,
            Scenario::Stress => 150,
        }
    }

    /// The default run time.
    pub fn default_duration(self) -> Duration {
        match self {
            Scenario::Stress => Duration::from_secs(90),
            _ => Duration::from_secs(60),
        }
    }

    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline",
            Scenario::Normal => "normal",
            Scenario::High => "high",
            Scenario::Spike => "spike",
            Scenario::Stress => "stress",
        }
    }

    /// The goose test plan for `users` over `duration` (at least 2 s); its last step stops
    /// every user, which ends the run.
    pub fn test_plan(self, users: usize, duration: Duration) -> String {
        let total_ms = duration.as_millis().max(2000) as u64;
        let steps: Vec<(usize, u64)> = match self {
            Scenario::Baseline | Scenario::Normal | Scenario::High => {
                // Start the users over a tenth of the run (1 to 10 s), then hold.
                let ramp = (total_ms / 10).clamp(1000, 10_000);
                vec![(users, ramp), (users, total_ms - ramp), (0, 0)]
            }
            Scenario::Spike => {
                // A third at a tenth of the users, the spike within 2 s, a third at the peak,
                // down within 2 s, the rest calm again, and every user stopped.
                let calm = (users / 10).max(1);
                let third = total_ms / 3;
                let edge = 2000.min(third / 2);
                let rest = total_ms.saturating_sub(third + edge + (third - edge) + edge);
                vec![
                    (calm, edge),
                    (calm, third - edge),
                    (users, edge),
                    (users, third - edge),
                    (calm, edge),
                    (calm, rest),
                    (0, 0),
                ]
            }
            Scenario::Stress => {
                // From a tenth of the users, add users linearly until the end; the watchdog
                // stops the run at the first window over the thresholds.
                let start = (users / 10).max(1);
                let warm = 2000.min(total_ms / 4);
                vec![(start, warm), (users, total_ms - warm), (0, 0)]
            }
        };
        steps
            .iter()
            .map(|(users, ms)| format!("{users},{}", timespan(*ms)))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Milliseconds as a goose time span (`1h2m3s`), rounded to whole seconds (0 stays 0).
fn timespan(ms: u64) -> String {
    let seconds = ms.div_ceil(1000);
    format!("{seconds}s")
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario `{s}`; one of: {}", names.join(", "))
            })
    }
}

/// Parses `90`, `90s`, `1500ms`, `2m`, `1m30s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration `{s}`: use e.g. 60s, 1500ms, 2m or 1m30s");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(seconds) = s.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let value: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value * 60),
            "h" => Duration::from_secs(value * 3600),
            _ => return Err(bad()),
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn plans_cover_the_duration() {
        for scenario in Scenario::ALL {
            for seconds in [5, 60, 90] {
                let plan = scenario.test_plan(20, Duration::from_secs(seconds));
                let total: u64 = plan
                    .split(';')
                    .map(|step| {
                        let (_, time) = step.split_once(',').unwrap_or_default();
                        time.trim_end_matches('s').parse::<u64>().unwrap_or(0)
                    })
                    .sum();
                assert!(
                    total >= seconds && total <= seconds + 8,
                    "{scenario} {seconds}s: {plan}"
                );
            }
        }
        assert_eq!(
            Scenario::Baseline.test_plan(2, Duration::from_secs(5)),
            "2,1s;2,4s;0,0s"
        );
        assert!(
            Scenario::Spike
                .test_plan(100, Duration::from_secs(60))
                .contains("100,")
        );
    }

    #[test]
    fn scenarios_parse() {
        assert_eq!("spike".parse(), Ok(Scenario::Spike));
        assert!("soak".parse::<Scenario>().unwrap_err().contains("baseline"));
    }
}
