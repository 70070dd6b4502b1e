//! The run's report page, `RUN_DIR/index.html`: the configuration, the loss and held-out
//! curves, the sample grids (newest first), the latest scores, the speed and the time left.
//!
//! The page is made from the run folder alone (`config.toml`, `metrics.jsonl`, `samples/`,
//! `eval.json`), so that `discogan report` rebuilds it for any run, also one made before the
//! page existed; training rewrites it (atomically) at every sample grid. It needs no
//! JavaScript, holds its charts inline as SVG and links only the sample grids of the folder.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::plot::{Series, line_chart};
use super::{iterations_per_second, scalar_tag};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::rundir::RunDir;

/// At most this many sample grids are shown (the newest); the page says how many it leaves out.
const MAX_SAMPLES: usize = 60;

/// Rebuilds `RUN_DIR/index.html` from the run folder, atomically; `running` when a training
/// process writes it as it goes (the page then shows the time left, otherwise where the run
/// stopped). Returns its path.
pub fn write(run: &RunDir, running: bool) -> Result<PathBuf> {
    let mut contents = Contents::read(run)?;
    contents.running = running;
    let page = page(&contents)?;
    let path = run.report();
    write_atomic(&path, page.as_bytes())?;
    Ok(path)
}

/// What the page shows, read from the run folder.
struct Contents {
    title: String,
    config_text: String,
    iterations: u64,
    max_minutes: f64,
    lines: Vec<Map<String, Value>>,
    /// Lines of `metrics.jsonl` that are not JSON objects with an iteration (a line cut short
    /// by a crash): counted and said, not shown.
    unreadable_lines: usize,
    /// (iterations done, path relative to the run folder), newest first.
    samples: Vec<(u64, String)>,
    /// `eval.json`, if the run was evaluated, or why it could not be read.
    eval: Option<std::result::Result<Value, String>>,
    /// Whether a training process is writing the run.
    running: bool,
}

impl Contents {
    fn read(run: &RunDir) -> Result<Self> {
        let config = run.read_config()?;
        let config_path = run.config();
        let config_text =
            fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let (lines, unreadable_lines) = run.read_metrics()?;
        let samples = run
            .sample_grids()?
            .into_iter()
            .rev()
            // Every grid listed has a file name: it was parsed from it.
            .filter_map(|(done, path)| {
                Some((
                    done,
                    format!("samples/{}", path.file_name()?.to_string_lossy()),
                ))
            })
            .collect();
        let eval_path = run.eval_report();
        let eval = match fs::read_to_string(&eval_path) {
            Ok(text) => Some(serde_json::from_str(&text).map_err(|e| e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(e.to_string())),
        };
        let title = run.root.file_name().map_or_else(
            || run.root.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        Ok(Self {
            title,
            config_text,
            iterations: config.train.iterations,
            max_minutes: config.train.max_minutes,
            lines,
            unreadable_lines,
            samples,
            eval,
            running: false,
        })
    }

    /// Iterations done: after the last logged line, or the newest sample grid.
    fn done(&self) -> u64 {
        let logged = self.lines.last().map_or(0, |l| iteration(l) + 1);
        logged.max(self.samples.first().map_or(0, |s| s.0))
    }

    /// Iterations per second at the last logged line: its own figure, or the one of its
    /// last two lines when they come from one process (older runs).
    fn speed(&self) -> Option<f64> {
        let last = self.lines.last()?;
        if let Some(speed) = last.get("iterations_per_s").and_then(Value::as_f64) {
            return Some(speed);
        }
        let [a, b] = self.lines.get(self.lines.len().checked_sub(2)?..)? else {
            return None;
        };
        let point = |l: &Map<String, Value>| Some((iteration(l), l.get("elapsed_s")?.as_f64()?));
        iterations_per_second(point(a)?, point(b)?)
    }
}

fn iteration(line: &Map<String, Value>) -> u64 {
    line.get("iteration").and_then(Value::as_u64).unwrap_or(0)
}

fn page(c: &Contents) -> Result<String> {
    let mut html = String::new();
    let title = escape(&c.title);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title} - discogan</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>{title}</h1>\n"
    );
    let _ = writeln!(html, "<p class=\"status\">{}</p>", escape(&status(c)));
    if c.unreadable_lines > 0 {
        let _ = writeln!(
            html,
            "<p class=\"warning\">{} line(s) of metrics.jsonl could not be read and are not \
             shown.</p>",
            c.unreadable_lines
        );
    }

    let charts = charts(&c.lines);
    for (heading, group) in [
        ("Losses", "loss"),
        ("Held-out scores", "heldout"),
        ("Training", "train"),
    ] {
        let Some(list) = charts.get(group) else {
            continue;
        };
        let _ = writeln!(html, "<h2>{heading}</h2>\n<div class=\"charts\">");
        for (title, series) in list {
            html.push_str(&line_chart(title, series)?);
            html.push('\n');
        }
        html.push_str("</div>\n");
    }

    if let Some(table) = latest_heldout(&c.lines) {
        html.push_str(&table);
    }
    match &c.eval {
        Some(Ok(report)) => html.push_str(&eval_table(report)),
        Some(Err(why)) => {
            let _ = writeln!(
                html,
                "<p class=\"warning\">eval.json could not be read: {}</p>",
                escape(why)
            );
        }
        None => {}
    }

    let _ = writeln!(html, "<h2>Samples</h2>");
    if c.samples.is_empty() {
        html.push_str("<p>No sample grid yet.</p>\n");
    } else {
        html.push_str(
            "<p>Each row: a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b)) (held-out \
             images).</p>\n<div class=\"samples\">\n",
        );
        for (k, (done, path)) in c.samples.iter().take(MAX_SAMPLES).enumerate() {
            let class = if k == 0 { "latest" } else { "earlier" };
            let path = escape(path);
            let _ = writeln!(
                html,
                "<figure class=\"{class}\"><a href=\"{path}\"><img src=\"{path}\" \
                 alt=\"samples after {done} iterations\"></a>\
                 <figcaption>after {done} iterations</figcaption></figure>"
            );
        }
        html.push_str("</div>\n");
        if c.samples.len() > MAX_SAMPLES {
            let _ = writeln!(
                html,
                "<p>{} earlier grids are in samples/.</p>",
                c.samples.len() - MAX_SAMPLES
            );
        }
    }

    let _ = writeln!(
        html,
        "<h2>Configuration</h2>\n<pre>{}</pre>\n</body>\n</html>",
        escape(&c.config_text)
    );
    Ok(html)
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1400px}\
h2{margin-top:1.6em;border-bottom:1px solid #ddd}\
.status{font-size:1.1em}.warning{color:#a00}\
.charts{display:flex;flex-wrap:wrap;gap:8px}\
table{border-collapse:collapse;margin:0.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:right}th{background:#f4f4f4}\
.samples{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}\
figure{margin:0}figcaption{font-size:0.9em;color:#555}\
figure.latest img{max-width:100%;image-rendering:pixelated;min-width:384px}\
figure.earlier img{width:192px;image-rendering:pixelated}\
pre{background:#f7f7f7;padding:0.8em;overflow:auto}";

/// The line under the title: where the run is, how fast it goes, how long it has left.
fn status(c: &Contents) -> String {
    let done = c.done();
    let mut parts = vec![format!("{done} of {} iterations", c.iterations)];
    let speed = c.speed();
    if let Some(speed) = speed {
        parts.push(format!("{speed:.2} iterations/s"));
    }
    if done >= c.iterations {
        parts.push("finished".into());
    } else if !c.running {
        parts.push("stopped (discogan train --resume RUN_DIR goes on)".into());
    } else if let Some(speed) = speed.filter(|s| *s > 0.0) {
        let left = (c.iterations - done) as f64 / speed;
        parts.push(format!("about {} left", duration(left)));
        if c.max_minutes > 0.0 {
            parts.push(format!("time limit {} min", c.max_minutes));
        }
    }
    parts.join(" · ")
}

/// `seconds` as `1 h 05 min`, `12 min`, or `40 s`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{} h {:02} min", s / 3600, s / 60 % 60),
    }
}

/// The charts of each group (`loss`, `heldout`, `train`), titled, in the order their keys
/// first appear: one chart per loss and per training figure, one per held-out metric with a
/// line per direction (and the trained weights' own, `raw`, beside the moving average's).
fn charts(lines: &[Map<String, Value>]) -> BTreeMap<&'static str, Vec<(String, Vec<Series>)>> {
    // (group, chart title) -> series name -> points, in first-seen order.
    let mut charts: Vec<((&'static str, String), Vec<Series>)> = Vec::new();
    for line in lines {
        let x = iteration(line) as f64;
        for (key, value) in line {
            let (Some(tag), Some(y)) = (scalar_tag(key), value.as_f64()) else {
                continue;
            };
            let Some((group, name)) = tag.split_once('/') else {
                continue;
            };
            let (group, title, series): (&'static str, String, String) = match group {
                "heldout" | "heldout_raw" => {
                    let (direction, metric) = name.split_once('_').unwrap_or((name, ""));
                    let series = match group {
                        "heldout_raw" => format!("{direction} (raw)"),
                        _ => direction.to_string(),
                    };
                    ("heldout", format!("held-out {metric}"), series)
                }
                "loss" => ("loss", key.clone(), key.clone()),
                _ => ("train", name.to_string(), name.to_string()),
            };
            let chart = match charts
                .iter_mut()
                .position(|(id, _)| id.0 == group && id.1 == title)
            {
                Some(i) => &mut charts[i].1,
                None => {
                    charts.push(((group, title), Vec::new()));
                    let last = charts.len() - 1;
                    &mut charts[last].1
                }
            };
            match chart.iter_mut().find(|s| s.name == series) {
                Some(s) => s.points.push((x, y)),
                None => chart.push(Series {
                    name: series,
                    points: vec![(x, y)],
                }),
            }
        }
    }
    let mut grouped: BTreeMap<&'static str, Vec<(String, Vec<Series>)>> = BTreeMap::new();
    for ((group, title), series) in charts {
        grouped.entry(group).or_default().push((title, series));
    }
    grouped
}

/// The held-out scores of the last line that has them, as a table.
fn latest_heldout(lines: &[Map<String, Value>]) -> Option<String> {
    let line = lines
        .iter()
        .rev()
        .find(|l| l.keys().any(|k| k.starts_with("heldout_")))?;
    let metrics = ["l1", "psnr", "ssim", "top1", "top5", "recon_l1"];
    let mut html = format!(
        "<h2>Latest held-out scores</h2>\n<p>After {} iterations{}.</p>\n<table>\n<tr><th></th>",
        iteration(line) + 1,
        if line.keys().any(|k| k.starts_with("heldout_raw_")) {
            " (the moving average; raw: the trained weights)"
        } else {
            ""
        }
    );
    for m in metrics {
        let _ = write!(html, "<th>{m}</th>");
    }
    html.push_str("</tr>\n");
    for prefix in ["heldout", "heldout_raw"] {
        for direction in ["a2b", "b2a"] {
            let cells: Vec<Option<f64>> = metrics
                .iter()
                .map(|m| line.get(&format!("{prefix}_{direction}_{m}"))?.as_f64())
                .collect();
            if cells.iter().all(Option::is_none) {
                continue;
            }
            let name = match prefix {
                "heldout_raw" => format!("{direction} (raw)"),
                _ => direction.to_string(),
            };
            let _ = write!(html, "<tr><th>{name}</th>");
            for cell in cells {
                let _ = write!(html, "<td>{}</td>", cell.map_or(String::new(), number));
            }
            html.push_str("</tr>\n");
        }
    }
    html.push_str("</table>\n");
    Some(html)
}

/// `eval.json` (`discogan eval`'s report) as a table: per direction, the model's scores and
/// the baselines', and the reconstruction's L1.
fn eval_table(report: &Value) -> String {
    let mut html = String::from("<h2>discogan eval (eval.json)</h2>\n");
    let Some(directions) = report.as_array() else {
        html.push_str("<p class=\"warning\">eval.json is not a list of directions.</p>\n");
        return html;
    };
    html.push_str("<table>\n");
    let columns = ["l1", "psnr", "ssim", "top1", "top5"];
    html.push_str("<tr><th>direction</th><th>translation</th>");
    for c in columns {
        let _ = write!(html, "<th>{c}</th>");
    }
    html.push_str("<th>recon_l1</th></tr>\n");
    for d in directions {
        let direction = d.get("direction").and_then(Value::as_str).unwrap_or("?");
        let recon = d.get("reconstruction_l1").and_then(Value::as_f64);
        for (k, which) in ["model", "identity", "random"].into_iter().enumerate() {
            let Some(scores) = d.get(which).filter(|s| s.is_object()) else {
                continue;
            };
            let _ = write!(html, "<tr><th>{}</th><th>{which}</th>", escape(direction));
            for c in columns {
                let cell = scores.get(c).and_then(Value::as_f64);
                let _ = write!(html, "<td>{}</td>", cell.map_or(String::new(), number));
            }
            let recon = recon.filter(|_| k == 0).map_or(String::new(), number);
            let _ = writeln!(html, "<td>{recon}</td></tr>");
        }
    }
    html.push_str("</table>\n");
    html
}

fn number(x: f64) -> String {
    format!("{x:.4}")
}

/// `text` safe inside HTML elements and quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn held_out_metrics_share_a_chart_per_metric() {
        let lines = [
            line(
                serde_json::json!({"iteration": 0, "loss_d": 1.0, "heldout_a2b_l1": 0.3,
                "heldout_b2a_l1": 0.4, "heldout_raw_a2b_l1": 0.35, "lr": 0.1}),
            ),
            line(
                serde_json::json!({"iteration": 5, "loss_d": 0.5, "heldout_a2b_l1": 0.2,
                "heldout_b2a_l1": 0.3, "heldout_raw_a2b_l1": 0.25, "lr": 0.1}),
            ),
        ];
        let charts = charts(&lines);
        let heldout = &charts["heldout"];
        assert_eq!(heldout.len(), 1);
        assert_eq!(heldout[0].0, "held-out l1");
        let names: Vec<&str> = heldout[0].1.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a2b", "b2a", "a2b (raw)"]);
        assert_eq!(heldout[0].1[0].points, [(0.0, 0.3), (5.0, 0.2)]);
        assert_eq!(charts["loss"][0].0, "loss_d");
        assert_eq!(charts["train"][0].0, "lr");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(40.2), "40 s");
        assert_eq!(duration(725.0), "12 min");
        assert_eq!(duration(3900.0), "1 h 05 min");
    }
}
