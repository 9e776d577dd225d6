//! What a run produces: statistics, figures with their goals, plots, and their rendering
//! as tables.

use std::fmt;
use std::time::SystemTime;

use serde::Serialize;

use crate::Suite;

/// Median, min and max of repeated measurements.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    /// The median.
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// How many measurements.
    pub samples: usize,
}

impl Stat {
    /// The statistics of `values` (NaN for none).
    pub fn of(mut values: Vec<f64>) -> Stat {
        values.sort_by(f64::total_cmp);
        match (values.first(), values.last()) {
            (Some(&min), Some(&max)) => Stat { median: values[values.len() / 2], min, max, samples: values.len() },
            _ => Stat { median: f64::NAN, min: f64::NAN, max: f64::NAN, samples: 0 },
        }
    }

    /// One measurement.
    pub fn single(value: f64) -> Stat {
        Stat::of(vec![value])
    }

    /// Each value mapped by `f`, which must be monotonic (e.g. `bytes / time`, which swaps
    /// min and max: handled).
    pub fn map(self, f: impl Fn(f64) -> f64) -> Stat {
        let (a, b) = (f(self.min), f(self.max));
        Stat { median: f(self.median), min: a.min(b), max: a.max(b), samples: self.samples }
    }
}

/// The unit of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Gigabytes (10⁹ bytes) per second.
    GbPerSecond,
    /// Operations per second.
    PerSecond,
    /// Gas.
    Gas,
    /// A percentage.
    Percent,
    /// Mebibytes.
    MiB,
    /// A plain ratio (×).
    Times,
}

impl Unit {
    fn symbol(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::Us => "µs",
            Unit::GbPerSecond => "GB/s",
            Unit::PerSecond => "/s",
            Unit::Gas => "gas",
            Unit::Percent => "%",
            Unit::MiB => "MiB",
            Unit::Times => "×",
        }
    }

    /// `value` with a precision that suits its size.
    pub fn format(self, value: f64) -> String {
        if value.is_nan() {
            return "-".into();
        }
        let number = match self {
            Unit::Gas | Unit::PerSecond => thousands(value.round() as i64),
            _ if value.abs() >= 100.0 => format!("{value:.0}"),
            _ if value.abs() >= 10.0 => format!("{value:.1}"),
            _ if value.abs() >= 1.0 => format!("{value:.2}"),
            _ => format!("{value:.3}"),
        };
        format!("{number} {}", self.symbol())
    }
}

fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// A goal from DESIGN.md's Performance table, on our median or on our median relative to
/// the peer's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Goal {
    /// Ours at most this (in the figure's unit).
    AtMost(f64),
    /// Ours at least this.
    AtLeast(f64),
    /// Ours / peer at most this.
    RatioAtMost(f64),
    /// Ours / peer at least this.
    RatioAtLeast(f64),
}

impl Goal {
    fn describe(self, unit: Unit) -> String {
        match self {
            Goal::AtMost(v) => format!("≤ {}", unit.format(v)),
            Goal::AtLeast(v) => format!("≥ {}", unit.format(v)),
            Goal::RatioAtMost(v) => format!("≤ {v}× peer"),
            Goal::RatioAtLeast(v) => format!("≥ {:.0}% of peer", v * 100.0),
        }
    }
}

/// A measured peer: another system, or the same operation done another way, in the same run.
#[derive(Clone, Debug, Serialize)]
pub struct Peer {
    /// What it is.
    pub name: String,
    /// Its figure.
    pub stat: Stat,
}

/// One measure: the paper's figure, ours, the peer's, and the goal.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// What is measured.
    pub measure: String,
    /// The unit of `ours` and the peer's figure.
    pub unit: Unit,
    /// The paper's figure, as the paper gives it.
    pub paper: Option<String>,
    /// Ours.
    pub ours: Stat,
    /// The peer's, measured in the same run.
    pub peer: Option<Peer>,
    /// Ours / the peer's (medians).
    pub ratio: Option<f64>,
    /// The goal.
    pub goal: Option<Goal>,
    /// Whether the goal is met.
    pub met: Option<bool>,
}

impl Figure {
    /// A figure with our measurement only.
    pub fn new(measure: impl Into<String>, unit: Unit, ours: Stat) -> Figure {
        Figure { measure: measure.into(), unit, paper: None, ours, peer: None, ratio: None, goal: None, met: None }
    }

    /// The paper's figure.
    pub fn paper(mut self, paper: impl Into<String>) -> Figure {
        self.paper = Some(paper.into());
        self
    }

    /// The peer's figure, measured in the same run.
    pub fn peer(mut self, name: impl Into<String>, stat: Stat) -> Figure {
        self.ratio = Some(self.ours.median / stat.median);
        self.peer = Some(Peer { name: name.into(), stat });
        self.judge()
    }

    /// The goal this figure is held to.
    pub fn goal(mut self, goal: Goal) -> Figure {
        self.goal = Some(goal);
        self.judge()
    }

    fn judge(mut self) -> Figure {
        let ours = self.ours.median;
        self.met = match (self.goal, self.ratio) {
            (Some(Goal::AtMost(v)), _) => Some(ours <= v),
            (Some(Goal::AtLeast(v)), _) => Some(ours >= v),
            (Some(Goal::RatioAtMost(v)), Some(r)) => Some(r <= v),
            (Some(Goal::RatioAtLeast(v)), Some(r)) => Some(r >= v),
            _ => None,
        };
        self
    }
}

/// One line of a plot: a point per x, each with its spread.
#[derive(Clone, Debug, Serialize)]
pub struct Series {
    /// The legend.
    pub name: String,
    /// `(x, y)`; for bars, x is the category's index.
    pub points: Vec<(f64, Stat)>,
}

/// How a plot is drawn.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlotKind {
    /// Lines over a numeric x axis.
    Lines,
    /// Grouped bars over named categories.
    Bars {
        /// The categories, in order.
        categories: Vec<String>,
    },
}

/// A chart, written as `<name>.svg` and `<name>.png`.
#[derive(Clone, Debug, Serialize)]
pub struct Plot {
    /// The file stem.
    pub name: String,
    /// The title.
    pub title: String,
    /// The x axis.
    pub x_label: String,
    /// The y axis.
    pub y_label: String,
    /// Lines or bars.
    pub kind: PlotKind,
    /// The data.
    pub series: Vec<Series>,
}

/// What one suite measured.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    /// The suite.
    pub suite: Suite,
    /// What it reproduces.
    pub title: String,
    /// Its figures.
    pub figures: Vec<Figure>,
    /// Its plots.
    pub plots: Vec<Plot>,
    /// Facts the reader needs to interpret the figures (what ran, what was missing).
    pub notes: Vec<String>,
}

impl SuiteReport {
    /// An empty report for `suite`.
    pub fn new(suite: Suite, title: impl Into<String>) -> Self {
        SuiteReport { suite, title: title.into(), figures: Vec::new(), plots: Vec::new(), notes: Vec::new() }
    }
}

/// The machine a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// The CPU model.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// When (UTC, RFC 3339).
    pub date: String,
    /// The commit measured (`git describe`), when run from a checkout.
    pub commit: Option<String>,
    /// The machine.
    pub machine: Machine,
    /// Whether every suite ran small.
    pub quick: bool,
    /// The suites' reports.
    pub suites: Vec<SuiteReport>,
}

impl Run {
    pub(crate) fn describe(quick: bool) -> Run {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|rest| rest.split(':').nth(1)))
            .map_or_else(|| "unknown".into(), |m| m.trim().to_string());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
            .map_or(f64::NAN, |kib| kib / (1024.0 * 1024.0));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let commit = std::process::Command::new("git")
            .args(["describe", "--always", "--dirty"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        Run {
            date: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            commit,
            machine: Machine { cpu, cores, memory_gib },
            quick,
            suites: Vec::new(),
        }
    }

    /// The run as Markdown: a table per suite (with its plots) and a count of goals met.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# healthchain bench\n\n{}, commit {}, {} ({} cores, {:.0} GiB){}\n",
            self.date,
            self.commit.as_deref().unwrap_or("unknown"),
            self.machine.cpu,
            self.machine.cores,
            self.machine.memory_gib,
            if self.quick { ", quick mode (small sizes: not comparable)" } else { "" }
        );
        let (mut met, mut goals) = (0, 0);
        for suite in &self.suites {
            md += &format!("\n## {} — {}\n\n", suite.suite.name(), suite.title);
            md += "| measure | paper | ours (median) | min–max | peer, same run | ratio | goal | met |\n";
            md += "|---|---|---|---|---|---|---|---|\n";
            for f in &suite.figures {
                let unit = f.unit;
                let peer =
                    f.peer.as_ref().map_or("-".into(), |p| format!("{}: {}", p.name, unit.format(p.stat.median)));
                md += &format!(
                    "| {} | {} | {} | {} – {} | {} | {} | {} | {} |\n",
                    f.measure,
                    f.paper.as_deref().unwrap_or("-"),
                    unit.format(f.ours.median),
                    unit.format(f.ours.min),
                    unit.format(f.ours.max),
                    peer,
                    f.ratio.map_or("-".into(), |r| format!("{r:.2}×")),
                    f.goal.map_or("-".into(), |g| g.describe(unit)),
                    match f.met {
                        Some(true) => "yes",
                        Some(false) => "**no**",
                        None => "",
                    }
                );
                if let Some(ok) = f.met {
                    goals += 1;
                    met += usize::from(ok);
                }
            }
            for note in &suite.notes {
                md += &format!("\n- {note}");
            }
            if !suite.notes.is_empty() {
                md += "\n";
            }
            for plot in &suite.plots {
                md += &format!("\n![{}]({}.svg)\n", plot.title, plot.name);
            }
        }
        md += &format!("\n**Goals met: {met} of {goals}.**\n");
        md
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== {} — {}", self.suite.name(), self.title)?;
        let header = ["measure", "paper", "ours: median [min–max]", "peer (same run)", "ratio", "goal", ""];
        let mut rows = vec![header.map(String::from).to_vec()];
        for figure in &self.figures {
            let unit = figure.unit;
            let ours = format!(
                "{} [{}–{}]",
                unit.format(figure.ours.median),
                unit.format(figure.ours.min).trim_end_matches(unit.symbol()).trim_end(),
                unit.format(figure.ours.max).trim_end_matches(unit.symbol()).trim_end()
            );
            let peer =
                figure.peer.as_ref().map_or("-".into(), |p| format!("{}: {}", p.name, unit.format(p.stat.median)));
            rows.push(vec![
                figure.measure.clone(),
                figure.paper.clone().unwrap_or_else(|| "-".into()),
                ours,
                peer,
                figure.ratio.map_or("-".into(), |r| format!("{r:.2}×")),
                figure.goal.map_or("-".into(), |g| g.describe(unit)),
                match figure.met {
                    Some(true) => "met".into(),
                    Some(false) => "NOT MET".into(),
                    None => String::new(),
                },
            ]);
        }
        let widths: Vec<usize> =
            (0..header.len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
                .collect();
            writeln!(f, "  {}", line.join("  ").trim_end())?;
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_takes_the_median_and_the_extremes() {
        let s = Stat::of(vec![5.0, 1.0, 3.0, 9.0, 2.0]);
        assert_eq!((s.median, s.min, s.max, s.samples), (3.0, 1.0, 9.0, 5));
        assert!(Stat::of(Vec::new()).median.is_nan());
        let rate = Stat::of(vec![1.0, 2.0, 4.0]).map(|ms| 1000.0 / ms);
        assert_eq!((rate.median, rate.min, rate.max), (500.0, 250.0, 1000.0));
    }

    #[test]
    fn goals_are_judged_on_the_median_or_the_ratio() {
        let f = Figure::new("x", Unit::Ms, Stat::of(vec![9.0, 10.0, 11.0])).goal(Goal::AtMost(10.0));
        assert_eq!(f.met, Some(true));
        let f = Figure::new("x", Unit::Ms, Stat::single(3.0)).peer("p", Stat::single(2.0)).goal(Goal::RatioAtMost(1.5));
        assert_eq!((f.ratio, f.met), (Some(1.5), Some(true)));
        let f = Figure::new("x", Unit::GbPerSecond, Stat::single(2.0))
            .peer("openssl", Stat::single(4.0))
            .goal(Goal::RatioAtLeast(0.8));
        assert_eq!(f.met, Some(false));
        assert_eq!(Figure::new("x", Unit::Ms, Stat::single(1.0)).goal(Goal::RatioAtMost(1.0)).met, None);
    }

    #[test]
    fn numbers_print_with_separators_and_units() {
        assert_eq!(Unit::Gas.format(853_386.0), "853,386 gas");
        assert_eq!(Unit::PerSecond.format(19_550.4), "19,550 /s");
        assert_eq!(Unit::Ms.format(0.0984), "0.098 ms");
        assert_eq!(Unit::Ms.format(f64::NAN), "-");
    }
}
