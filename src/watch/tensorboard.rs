//! TensorBoard event files of a run (`RUN_DIR/tensorboard/`), written with the `tfrecord`
//! crate: every metrics line as scalars, every sample grid as an image, the resolved
//! configuration as text. `tensorboard --logdir runs/` shows every run under it.
//!
//! A run has one event file, appended to as it trains. When a process starts on a run folder
//! ([`EventLog::open`]) the file is read back and, if needed, rewritten atomically with only
//! the events of the iterations before the one the run goes on from: a resumed run's curves
//! have each step once, and a record torn by a crash mid-append is dropped (TensorBoard stops
//! reading a file at a bad record, and would never show what came after it).

use std::fs;
use std::io::{BufReader, BufWriter, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tfrecord::protobuf::summary::value::Value as Payload;
use tfrecord::protobuf::summary::{self, Image};
use tfrecord::protobuf::summary_metadata::PluginData;
use tfrecord::protobuf::tensor_shape_proto::Dim;
use tfrecord::protobuf::{
    DataType, Event, Summary, SummaryMetadata, TensorProto, TensorShapeProto, event::What,
};
use tfrecord::{EventIter, EventWriter, EventWriterConfig, RecordReaderConfig};

use super::scalar_tag;
use crate::atomic::write_atomic_via;
use crate::error::{Error, Result};
use crate::rundir::RunDir;

/// The run's event file, in `RUN_DIR/tensorboard/` (TensorBoard reads any file whose name has
/// `tfevents` in it).
pub const FILE_NAME: &str = "events.out.tfevents.discogan";
/// The tag of the sample grids; their step is the number of iterations done (the grid's file
/// name), where the scalars' step is the iteration of the metrics line (counting from 0).
pub const SAMPLES_TAG: &str = "samples";
/// The tag of the resolved configuration (`config.toml`), written by each process at the
/// iteration it starts from.
pub const CONFIG_TAG: &str = "config";

/// What [`EventLog::open`] found and did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Opened {
    /// Events dropped for belonging to iterations from the one the run goes on from.
    pub dropped: usize,
    /// Whether a last record cut short (a crash in the middle of an append) was dropped.
    pub torn: bool,
    /// A record that was corrupt (not cut short): where the file as it was is kept, and why.
    pub corrupt: Option<(PathBuf, String)>,
}

impl Opened {
    /// A line for the user, if anything was dropped.
    pub fn message(&self, from: u64) -> Option<String> {
        let mut parts = Vec::new();
        if self.dropped > 0 {
            parts.push(format!(
                "dropped {} events of iterations from {from} on (logged after the checkpoint \
                 this run goes on from)",
                self.dropped
            ));
        }
        if self.torn {
            parts.push("dropped a last record cut short by a crash".to_string());
        }
        if let Some((copy, why)) = &self.corrupt {
            parts.push(format!(
                "kept the events before a corrupt record ({why}); the file as it was is {}",
                copy.display()
            ));
        }
        (!parts.is_empty()).then(|| format!("TensorBoard: {}", parts.join("; ")))
    }
}

/// The appending writer of a run's event file.
pub struct EventLog {
    path: PathBuf,
    writer: EventWriter<BufWriter<fs::File>>,
}

impl EventLog {
    /// Opens the event file in `dir` (created if missing) for a process that goes on from
    /// iteration `from`: events of later iterations (a run resumed from an earlier checkpoint)
    /// and a torn last record are dropped first. A record that is not torn but corrupt ends
    /// what is kept too, and the file as it was is copied beside it first. Returns the log and
    /// what was done.
    pub fn open(dir: &Path, from: u64) -> Result<(Self, Opened)> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(FILE_NAME);
        let (events, end) = match fs::metadata(&path) {
            Ok(_) => read_valid(&path)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // A new file, written in place: a crash leaves it empty or torn, which the
                // next open mends.
                let bytes = encode(vec![file_version()], &path)?;
                fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
                (vec![file_version()], End::Clean)
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut opened = Opened::default();
        if let End::Corrupt(why) = &end {
            // Not a torn append: keep the file as it was beside the rewrite, and say so.
            let secs = now() as u64;
            // Never over an earlier copy (two corrupt files within a second).
            let copy = (0..)
                .map(|k| match k {
                    0 => dir.join(format!("corrupt-{secs}.tfrecord")),
                    k => dir.join(format!("corrupt-{secs}-{k}.tfrecord")),
                })
                .find(|copy| !copy.exists())
                .unwrap_or_else(|| dir.join(format!("corrupt-{secs}.tfrecord")));
            fs::copy(&path, &copy).map_err(|e| Error::io(&copy, e))?;
            opened.corrupt = Some((copy, why.clone()));
        }
        let total = events.len();
        let kept: Vec<Event> = events.into_iter().filter(|e| before(e, from)).collect();
        opened.dropped = total - kept.len();
        opened.torn = end == End::Torn;
        let headed = kept
            .first()
            .is_some_and(|e| matches!(e.what, Some(What::FileVersion(_))));
        if opened.dropped > 0 || end != End::Clean || !headed {
            let header = (!headed).then(file_version);
            let bytes = encode(header.into_iter().chain(kept).collect(), &path)?;
            let tmp = dir.join(format!(".rewrite.partial-{}", std::process::id()));
            write_atomic_via(&path, &tmp, &bytes)?;
        }
        let file = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let writer = writer_over(BufWriter::new(file), &path)?;
        Ok((Self { path, writer }, opened))
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every number of one metrics line (`metrics.jsonl`), as scalars at the line's iteration
    /// ([`scalar_tag`] names them).
    pub fn metrics_line(&mut self, line: &Map<String, Value>) -> Result<()> {
        let event = line_event(line, &self.path)?;
        self.write(event)
    }

    /// The sample grid at `png` (a PNG file), as an image after `done` iterations.
    pub fn sample(&mut self, done: u64, png: &Path) -> Result<()> {
        self.write(sample_event(done, png)?)
    }

    /// `markdown` as TensorBoard text at `step` under `tag`.
    pub fn text(&mut self, step: u64, tag: &str, markdown: &str) -> Result<()> {
        self.write(text_event(step, tag, markdown))
    }

    /// Hands what was written to the file (TensorBoard sees it from then on).
    pub fn flush(&mut self) -> Result<()> {
        self.writer
            .flush()
            .map_err(|e| events_failure(&self.path, "writing", e))
    }

    fn write(&mut self, event: Event) -> Result<()> {
        self.writer
            .write_event(event)
            .map_err(|e| events_failure(&self.path, "writing", e))
    }
}

/// Writes the event file of a run that has none (one made before runs wrote them) from what
/// its folder holds: the configuration, every metrics line, every sample grid; atomically.
/// Returns the file written and how many lines of `metrics.jsonl` could not be read (left
/// out), or `None` when the run has an event file already (it is left as it is). Call it only
/// while holding the run's lock.
pub fn rebuild(run: &RunDir) -> Result<Option<(PathBuf, usize)>> {
    let dir = run.tensorboard();
    let path = dir.join(FILE_NAME);
    if path.exists() {
        return Ok(None);
    }
    let config_path = run.config();
    let config = fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    let (lines, unreadable) = run.read_metrics()?;
    let mut events = vec![
        file_version(),
        text_event(0, CONFIG_TAG, &config_markdown(&config)),
    ];
    for line in &lines {
        events.push(line_event(line, &run.metrics())?);
    }
    for (done, png) in run.sample_grids()? {
        events.push(sample_event(done, &png)?);
    }
    // In step order, as a training run writes them: TensorBoard's reader takes a step that
    // goes back for a restart and purges what it had read after it.
    events[2..].sort_by_key(|event| event.step);
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let tmp = dir.join(format!(".rebuild.partial-{}", std::process::id()));
    write_atomic_via(&path, &tmp, &encode(events, &path)?)?;
    Ok(Some((path, unreadable)))
}

fn line_event(line: &Map<String, Value>, source: &Path) -> Result<Event> {
    let step = line
        .get("iteration")
        .and_then(Value::as_u64)
        .ok_or_else(|| events_error(source, "a metrics line without an iteration"))?;
    let values = line
        .iter()
        .filter_map(|(key, value)| Some((scalar_tag(key)?, value.as_f64()?)))
        .map(|(tag, value)| summary::Value {
            tag,
            value: Some(Payload::SimpleValue(value as f32)),
            ..Default::default()
        })
        .collect();
    Ok(summary_event(step, values))
}

fn sample_event(done: u64, png: &Path) -> Result<Event> {
    let bytes = fs::read(png).map_err(|e| Error::io(png, e))?;
    let (width, height) = image::image_dimensions(png).map_err(|e| Error::Data {
        path: png.to_path_buf(),
        reason: format!("not a readable image: {e}"),
    })?;
    let image = Image {
        width: width as i32,
        height: height as i32,
        colorspace: 3, // RGB
        encoded_image_string: bytes,
    };
    let value = summary::Value {
        tag: SAMPLES_TAG.into(),
        value: Some(Payload::Image(image)),
        ..Default::default()
    };
    Ok(summary_event(done, vec![value]))
}

fn text_event(step: u64, tag: &str, markdown: &str) -> Event {
    let tensor = TensorProto {
        dtype: DataType::DtString as i32,
        tensor_shape: Some(TensorShapeProto {
            dim: Vec::<Dim>::new(),
            unknown_rank: false,
        }),
        string_val: vec![markdown.as_bytes().to_vec()],
        ..Default::default()
    };
    let value = summary::Value {
        tag: tag.into(),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "text".into(),
                content: Vec::new(),
            }),
            ..Default::default()
        }),
        value: Some(Payload::Tensor(tensor)),
        ..Default::default()
    };
    summary_event(step, vec![value])
}

fn summary_event(step: u64, values: Vec<summary::Value>) -> Event {
    Event {
        wall_time: now(),
        step: step as i64,
        source_metadata: None,
        what: Some(What::Summary(Summary { value: values })),
    }
}

/// `events` as the bytes of an event file (for `path`, named in errors).
fn encode(events: Vec<Event>, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    {
        let mut writer = writer_over(&mut bytes, path)?;
        for event in events {
            writer
                .write_event(event)
                .map_err(|e| events_failure(path, "encoding an event", e))?;
        }
    }
    Ok(bytes)
}

/// The configuration as TensorBoard text: TOML in a Markdown code block.
pub fn config_markdown(toml: &str) -> String {
    toml.lines().map(|line| format!("    {line}\n")).collect()
}

/// One value of an event file, as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The event's step.
    pub step: u64,
    /// The value's tag.
    pub tag: String,
    /// What it holds.
    pub value: EntryValue,
}

/// What a value holds.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryValue {
    /// A scalar.
    Scalar(f32),
    /// An encoded image and its size.
    Image {
        /// The encoded bytes (PNG).
        encoded: Vec<u8>,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// Text (the first string of a string tensor).
    Text(String),
    /// Anything else (not written by this crate).
    Other,
}

/// Every summary value of the event files in `dir` (files in name order, events in file
/// order). A bad record is an error naming the file.
pub fn read(dir: &Path) -> Result<Vec<Entry>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        files.push(entry.map_err(|e| Error::io(dir, e))?.path());
    }
    files.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains("tfevents") && !crate::atomic::is_temporary(n))
    });
    files.sort();
    let mut entries = Vec::new();
    for path in files {
        let (events, end) = read_valid(&path)?;
        if end != End::Clean {
            return Err(events_error(&path, format!("a bad record: {end:?}")));
        }
        for event in events {
            let Some(What::Summary(summary)) = event.what else {
                continue;
            };
            for v in summary.value {
                entries.push(Entry {
                    step: event.step.max(0) as u64,
                    tag: v.tag,
                    value: match v.value {
                        Some(Payload::SimpleValue(x)) => EntryValue::Scalar(x),
                        Some(Payload::Image(i)) => EntryValue::Image {
                            encoded: i.encoded_image_string,
                            width: i.width.max(0) as u32,
                            height: i.height.max(0) as u32,
                        },
                        Some(Payload::Tensor(t)) if !t.string_val.is_empty() => {
                            EntryValue::Text(String::from_utf8_lossy(&t.string_val[0]).into())
                        }
                        _ => EntryValue::Other,
                    },
                });
            }
        }
    }
    Ok(entries)
}

/// How an event file ends.
#[derive(Clone, Debug, PartialEq)]
enum End {
    /// After its last whole record.
    Clean,
    /// In the middle of a record: an append cut short.
    Torn,
    /// At a record that is whole but wrong (a checksum, or not an event), and why.
    Corrupt(String),
}

/// The events of `path` up to the first bad record, and how the file ends. An error reading
/// the file (other than its end) is an error naming it.
fn read_valid(path: &Path) -> Result<(Vec<Event>, End)> {
    let file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let config = RecordReaderConfig {
        check_integrity: true,
    };
    let mut events = Vec::new();
    for event in EventIter::from_reader(BufReader::new(file), config) {
        match event {
            Ok(event) => events.push(event),
            Err(tfrecord::Error::UnexpectedEof) => return Ok((events, End::Torn)),
            Err(tfrecord::Error::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                return Ok((events, End::Torn));
            }
            Err(tfrecord::Error::IoError(e)) => return Err(Error::io(path, e)),
            Err(e) => return Ok((events, End::Corrupt(e.to_string()))),
        }
    }
    Ok((events, End::Clean))
}

/// Whether `event` belongs to the iterations before `from`: the file's header always, a
/// sample grid when it was made after at most `from` iterations, anything else when its
/// iteration is before `from`.
fn before(event: &Event, from: u64) -> bool {
    let step = event.step.max(0) as u64;
    match &event.what {
        Some(What::FileVersion(_)) => true,
        Some(What::Summary(s)) if s.value.iter().any(|v| v.tag == SAMPLES_TAG) => step <= from,
        _ => step < from,
    }
}

fn file_version() -> Event {
    Event {
        wall_time: now(),
        step: 0,
        source_metadata: None,
        what: Some(What::FileVersion("brain.Event:2".into())),
    }
}

fn writer_over<W: std::io::Write>(writer: W, path: &Path) -> Result<EventWriter<W>> {
    EventWriter::from_writer(writer, EventWriterConfig { auto_flush: false })
        .map_err(|e| events_failure(path, "opening", e))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn events_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Events {
        path: path.to_path_buf(),
        reason: reason.into(),
        source: None,
    }
}

/// `tfrecord`'s error while doing `what` on `path`: an I/O error as the file's (the operating
/// system's reason as its source), anything else as the source of an events error.
fn events_failure(path: &Path, what: &str, e: tfrecord::Error) -> Error {
    match e {
        tfrecord::Error::IoError(io) => Error::io(path, io),
        other => Error::Events {
            path: path.to_path_buf(),
            reason: what.into(),
            source: Some(Box::new(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(iteration: u64, loss: f64) -> Map<String, Value> {
        serde_json::json!({"iteration": iteration, "elapsed_s": 1.5, "loss_d": loss})
            .as_object()
            .unwrap()
            .clone()
    }

    fn scalars(dir: &Path) -> Vec<(u64, String)> {
        read(dir)
            .unwrap()
            .into_iter()
            .filter(|e| matches!(e.value, EntryValue::Scalar(_)))
            .map(|e| (e.step, e.tag))
            .collect()
    }

    #[test]
    fn reopening_drops_later_iterations_and_a_torn_record() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, opened) = EventLog::open(dir.path(), 0).unwrap();
            assert_eq!(opened, Opened::default());
            for i in 0..4 {
                log.metrics_line(&line(i, 0.5)).unwrap();
            }
            log.text(0, CONFIG_TAG, "    a = 1\n").unwrap();
            log.flush().unwrap();
            let whole = fs::metadata(log.path()).unwrap().len();
            log.metrics_line(&line(4, 0.5)).unwrap();
            log.flush().unwrap();
            // A crash in the middle of that append: half of its record on disk.
            let appended = fs::metadata(log.path()).unwrap().len() - whole;
            let file = fs::OpenOptions::new().write(true).open(log.path()).unwrap();
            file.set_len(whole + appended / 2).unwrap();
        }
        assert!(read(dir.path()).is_err(), "the torn record is seen");

        let (mut log, opened) = EventLog::open(dir.path(), 2).unwrap();
        assert!(read(dir.path()).is_ok(), "the torn record is gone");
        assert_eq!(
            (opened.dropped, opened.torn),
            (2, true),
            "iterations 2 and 3, torn"
        );
        for i in 2..3 {
            log.metrics_line(&line(i, 0.25)).unwrap();
        }
        log.flush().unwrap();
        let steps: Vec<(u64, String)> = scalars(dir.path());
        let expected: Vec<(u64, String)> = (0..3).map(|i| (i, "loss/d".to_string())).collect();
        assert_eq!(steps, expected);
        let texts: Vec<Entry> = read(dir.path())
            .unwrap()
            .into_iter()
            .filter(|e| e.tag == CONFIG_TAG)
            .collect();
        assert_eq!(texts.len(), 1);
        assert_eq!(texts[0].value, EntryValue::Text("    a = 1\n".into()));
    }

    #[test]
    fn a_torn_record_alone_is_dropped_too() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, _) = EventLog::open(dir.path(), 0).unwrap();
            log.metrics_line(&line(0, 0.5)).unwrap();
            log.flush().unwrap();
        }
        let path = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&[7, 0, 0]); // the first bytes of a record's length
        fs::write(&path, &bytes).unwrap();
        let (mut log, opened) = EventLog::open(dir.path(), 1).unwrap();
        assert_eq!((opened.dropped, opened.torn), (0, true));
        log.metrics_line(&line(1, 0.25)).unwrap();
        log.flush().unwrap();
        let expected: Vec<(u64, String)> = (0..2).map(|i| (i, "loss/d".to_string())).collect();
        assert_eq!(scalars(dir.path()), expected);
    }

    #[test]
    fn a_corrupt_record_is_kept_aside_and_what_precedes_it_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, _) = EventLog::open(dir.path(), 0).unwrap();
            for i in 0..3 {
                log.metrics_line(&line(i, 0.5)).unwrap();
            }
            log.flush().unwrap();
        }
        let path = dir.path().join(FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff; // the last record's checksum
        fs::write(&path, &bytes).unwrap();
        assert!(read(dir.path()).is_err());
        let (_, opened) = EventLog::open(dir.path(), 5).unwrap();
        let (copy, why) = opened.corrupt.clone().unwrap();
        assert_eq!(fs::read(&copy).unwrap(), bytes, "the file as it was");
        assert!(why.contains("checksum"), "{why}");
        assert!(
            opened
                .message(5)
                .unwrap()
                .contains(&copy.display().to_string())
        );
        let steps: Vec<u64> = scalars(dir.path()).into_iter().map(|s| s.0).collect();
        assert_eq!(steps, [0, 1]);
        // No temporary file left, and none TensorBoard would read.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        // Corrupt again at once (within the same second): a second copy, the first kept.
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let (_, again) = EventLog::open(dir.path(), 5).unwrap();
        let (second, _) = again.corrupt.unwrap();
        assert_ne!(second, copy);
        assert_eq!(fs::read(&second).unwrap(), bytes);
        assert!(copy.is_file());
    }

    #[test]
    fn a_sample_made_at_the_resumed_iteration_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("grid.png");
        image::RgbImage::from_pixel(3, 2, image::Rgb([1, 2, 3]))
            .save(&png)
            .unwrap();
        let tb = dir.path().join("tb");
        {
            let (mut log, _) = EventLog::open(&tb, 0).unwrap();
            log.sample(2, &png).unwrap();
            log.sample(4, &png).unwrap();
            log.flush().unwrap();
        }
        let (_, opened) = EventLog::open(&tb, 2).unwrap();
        assert_eq!(opened.dropped, 1);
        let entries = read(&tb).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].step, 2);
        assert_eq!(
            entries[0].value,
            EntryValue::Image {
                encoded: fs::read(&png).unwrap(),
                width: 3,
                height: 2
            }
        );
    }
}
