//! Latency output of `oddsmatch loadgen`: HDR histogram interval logs and
//! latency-by-percentile plots.
//!
//! Both writers take the same [`Series`]: one operation's histogram, recorded in nanoseconds,
//! with the customer's latency targets for it.
//!
//! - [`write_hdr_log`] writes the standard HdrHistogram interval log (format 1.3, compressed V2
//!   encoding), one interval tagged with the operation's name per series. The Java
//!   `HistogramLogProcessor` reads it (`-i run.hlog -tag place_bet` prints the percentile
//!   distribution; its default output unit ratio of 1,000,000 turns our nanoseconds into
//!   milliseconds), and so do the Rust, C and JavaScript ports.
//! - [`plot`] draws latency by percentile on the usual "nines" axis, to PNG or SVG.
//!
//! **No system libraries.** plotters is built without its `ttf` feature, which needs fontconfig
//! and freetype. Text is laid out and rasterised with `ab_glyph` from Noto Sans Regular, which is
//! compiled into the binary from the `ttf-noto-sans` crate (the font is Apache-2.0), so a plot
//! renders the same on a bare CI machine as on a desktop.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One operation's latencies.
pub struct Series<'a> {
    /// The operation's name, e.g. `place_bet`; the interval's tag in the HDR log and the curve's
    /// label in the plot.
    pub name: &'a str,
    /// The operation's latencies, recorded in nanoseconds.
    pub histogram: &'a Histogram<u64>,
    /// The customer's targets in milliseconds, keyed by statistic, e.g.
    /// `[("p(95)", 150.0), ("p(99)", 300.0)]`; may be empty. The plot draws those it can place on
    /// the percentile axis: `p(N)` (or `pN`), `med`, `min` and `max`; others, such as `avg`, are
    /// left out of the plot.
    pub target_ms: &'a [(String, f64)],
}

const NANOSECONDS_PER_MILLISECOND: f64 = 1_000_000.0;

/// The header comment the Java `HistogramLogWriter` writes after the application's comment.
const LOG_FORMAT_VERSION_COMMENT: &str = "[Histogram log format version 1.3]";

/// The column legend the Java `HistogramLogWriter` writes before the first interval; readers skip
/// it.
const LOG_LEGEND_LINE: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

/// Writes an HDR histogram interval log to `path`: a header comment naming `scenario`, then one
/// interval per series, tagged with the series' name, starting at `start` and lasting `elapsed`,
/// values in nanoseconds.
///
/// StartTime and BaseTime are both `start`, so each interval's timestamp is 0 (seconds since
/// BaseTime). The informational `Interval_Max` column is in milliseconds, as the Java writer's
/// default makes it for nanosecond histograms. A series with no samples is written too (an
/// interval with a count of 0), so that the log says the operation ran and recorded nothing.
///
/// The log is built in memory and written in one go, so a failure leaves no half-written log
/// behind it unless the final write itself fails.
///
/// # Errors
///
/// No series; a name that is empty, contains a space, a comma or a line break (the interval log
/// format cannot carry it as a tag), or appears twice; a histogram that cannot be serialised; the
/// file cannot be written.
pub fn write_hdr_log(
    path: &Path,
    scenario: &str,
    start: SystemTime,
    elapsed: Duration,
    series: &[Series<'_>],
) -> Result<(), String> {
    if series.is_empty() {
        return Err(format!(
            "HDR log {}: no latency series to write",
            path.display()
        ));
    }
    let mut tags: Vec<Tag<'_>> = Vec::with_capacity(series.len());
    for one in series {
        let tag = Tag::new(one.name)
            .filter(|tag| !tag.is_empty())
            .ok_or_else(|| {
                format!(
                    "HDR log {}: operation name {:?} cannot be an interval tag \
                 (it must be non-empty, without spaces, commas or line breaks)",
                    path.display(),
                    one.name
                )
            })?;
        if tags.contains(&tag) {
            return Err(format!(
                "HDR log {}: operation name {:?} appears twice; tags must tell the series apart",
                path.display(),
                one.name
            ));
        }
        tags.push(tag);
    }

    let mut log: Vec<u8> = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let io_error = |error: std::io::Error| format!("HDR log {}: {error}", path.display());

    // The header is written by a first writer, which the legend line then follows, because the
    // interval log writer has no call for the legend (a line that is not a comment).
    IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "oddsmatch loadgen, scenario: {}",
            single_line(scenario)
        ))
        .add_comment("Latencies in nanoseconds; Interval_Max in milliseconds.")
        .add_comment(LOG_FORMAT_VERSION_COMMENT)
        .with_start_time(start)
        .with_base_time(start)
        .begin_log_with(&mut log, &mut serializer)
        .map_err(io_error)?;
    log.extend_from_slice(LOG_LEGEND_LINE.as_bytes());

    let mut writer = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(NANOSECONDS_PER_MILLISECOND)
        .begin_log_with(&mut log, &mut serializer)
        .map_err(io_error)?;
    for (one, tag) in series.iter().zip(tags) {
        writer
            .write_histogram(one.histogram, Duration::ZERO, elapsed, Some(tag))
            .map_err(|error| {
                format!("HDR log {}: series {:?}: {error}", path.display(), one.name)
            })?;
    }
    drop(writer);

    std::fs::write(path, &log).map_err(|error| format!("writing {}: {error}", path.display()))
}

/// Replaces line breaks and other control characters with spaces, so that text put into a
/// comment stays one comment line and cannot pose as a `#[StartTime: ...]` header.
fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Width and height of a plot, in pixels.
const PLOT_SIZE_PIXELS: (u32, u32) = (1280, 720);

/// The most series one plot draws; beyond this the legend and the colours stop being readable.
const PLOT_SERIES_MAX: usize = 24;

/// The far end of the percentile axis, in nines: 99.99999%.
const PLOT_NINES_MAX: f64 = 7.0;

/// The near end of the percentile axis is 0%; it shows at least up to 99%.
const PLOT_NINES_MIN_SHOWN: f64 = 2.0;

/// Distance in nines between two points of a curve.
const PLOT_NINES_STEP: f64 = 0.02;

/// Half the width, in nines, of the short line that marks a target.
const TARGET_MARK_HALF_WIDTH_NINES: f64 = 0.15;

/// The y axis is logarithmic when the largest latency shown is more than this many times the
/// smallest.
const LOG_SCALE_RATIO_MIN: f64 = 20.0;

/// Latencies below this are drawn at it on a logarithmic axis (zero has no logarithm).
const LATENCY_FLOOR_MS: f64 = 0.000_1;

/// Colours of the series, in order (Tableau 10), then again from the first.
const SERIES_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The image formats [`plot`] writes, chosen by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ImageFormat {
    Png,
    Svg,
}

impl ImageFormat {
    fn of(path: &Path) -> Result<Self, String> {
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("png") => Ok(Self::Png),
            Some("svg") => Ok(Self::Svg),
            _ => Err(format!(
                "plot {}: unknown image format; the file name must end in .png or .svg",
                path.display()
            )),
        }
    }
}

/// One series ready to draw: a curve in (nines, milliseconds) and its placeable targets.
struct Curve<'a> {
    name: &'a str,
    colour: RGBColor,
    points: Vec<(f64, f64)>,
    targets: Vec<TargetMark<'a>>,
}

/// A target placed on the chart.
struct TargetMark<'a> {
    label: &'a str,
    nines: f64,
    latency_ms: f64,
}

/// Everything [`plot`] draws, computed before any drawing starts.
struct Chart<'a> {
    caption: String,
    curves: Vec<Curve<'a>>,
    nines_max: f64,
    latency_min_ms: f64,
    latency_max_ms: f64,
}

/// Draws latency-by-percentile curves for `series` to `path`, a PNG or SVG file chosen by its
/// extension (`.png` or `.svg`), titled with `title` (the scenario's name).
///
/// The x axis is the percentile on the "nines" scale (0%, 90%, 99%, 99.9%, ...), each curve
/// reaching as far as its sample count supports (the last point is the maximum); the y axis is
/// latency in milliseconds, logarithmic when the latencies span more than a factor of 20. Each
/// series gets its own colour and a legend entry; each of its targets that names a percentile is
/// drawn in that colour as a short line with a cross at (percentile, target). Series without
/// samples are left out.
///
/// # Errors
///
/// An extension other than `.png` or `.svg`; no series with samples; more than 24 series; a
/// target that is not a positive, finite number of milliseconds; the bundled font failing to
/// load; the image failing to draw or to be written.
pub fn plot(path: &Path, title: &str, series: &[Series<'_>]) -> Result<(), String> {
    let format = ImageFormat::of(path)?;
    let chart =
        Chart::new(title, series).map_err(|error| format!("plot {}: {error}", path.display()))?;
    register_bundled_font()?;
    match format {
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, PLOT_SIZE_PIXELS).into_drawing_area();
                chart
                    .draw(&root)
                    .and_then(|()| root.present().map_err(|error| error.to_string()))
                    .map_err(|error| format!("plot {}: {error}", path.display()))?;
            }
            std::fs::write(path, svg)
                .map_err(|error| format!("writing {}: {error}", path.display()))
        }
        ImageFormat::Png => {
            let result = {
                let root = BitMapBackend::new(path, PLOT_SIZE_PIXELS).into_drawing_area();
                chart
                    .draw(&root)
                    .and_then(|()| root.present().map_err(|error| error.to_string()))
            };
            // The bitmap backend saves whatever it holds when dropped, even after a failed
            // drawing; a half-drawn image must not pass for a result.
            if result.is_err() {
                let _ = std::fs::remove_file(path);
            }
            result.map_err(|error| format!("plot {}: {error}", path.display()))
        }
    }
}

impl<'a> Chart<'a> {
    fn new(title: &str, series: &[Series<'a>]) -> Result<Self, String> {
        let with_samples: Vec<&Series<'a>> = series
            .iter()
            .filter(|one| !one.histogram.is_empty())
            .collect();
        if with_samples.is_empty() {
            return Err("no latency samples to plot".to_owned());
        }
        if with_samples.len() > PLOT_SERIES_MAX {
            return Err(format!(
                "{} series to plot; one plot draws at most {PLOT_SERIES_MAX}",
                with_samples.len()
            ));
        }
        let mut curves = Vec::with_capacity(with_samples.len());
        for (index, one) in with_samples.into_iter().enumerate() {
            curves.push(Curve::new(
                one,
                SERIES_COLOURS[index % SERIES_COLOURS.len()],
            )?);
        }

        let curve_nines_max = curves
            .iter()
            .flat_map(|curve| curve.points.last())
            .map(|&(nines, _)| nines)
            .fold(0.0, f64::max);
        let nines_max = curve_nines_max
            .ceil()
            .clamp(PLOT_NINES_MIN_SHOWN, PLOT_NINES_MAX);
        let latencies = curves.iter().flat_map(|curve| {
            curve
                .points
                .iter()
                .map(|&(_, latency_ms)| latency_ms)
                .chain(curve.targets.iter().map(|target| target.latency_ms))
        });
        let (latency_min_ms, latency_max_ms) = latencies
            .fold((f64::INFINITY, 0.0_f64), |(min, max), latency_ms| {
                (min.min(latency_ms), max.max(latency_ms))
            });
        // Curves end where their samples end; a max target goes where the axis ends.
        for curve in &mut curves {
            for target in &mut curve.targets {
                target.nines = target.nines.min(nines_max);
            }
        }
        Ok(Self {
            caption: format!("{}: latency by percentile", single_line(title)),
            curves,
            nines_max,
            latency_min_ms,
            latency_max_ms,
        })
    }

    fn draw<DB>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB: DrawingBackend,
    {
        root.fill(&WHITE).map_err(|error| error.to_string())?;
        let top_ms = self.latency_max_ms.max(LATENCY_FLOOR_MS);
        let bottom_ms = self.latency_min_ms.max(LATENCY_FLOOR_MS);
        if top_ms / bottom_ms > LOG_SCALE_RATIO_MIN {
            self.draw_with_y(root, (bottom_ms / 1.5..top_ms * 1.5).log_scale(), true)
        } else {
            self.draw_with_y(root, 0.0..top_ms * 1.1, false)
        }
    }

    fn draw_with_y<DB, Y>(
        &self,
        root: &DrawingArea<DB, Shift>,
        y_range: Y,
        log_scale: bool,
    ) -> Result<(), String>
    where
        DB: DrawingBackend,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let error_text = |error: DrawingAreaErrorKind<DB::ErrorType>| error.to_string();
        // One label per whole nine: 0%, 90%, 99%, ...
        let nines_labels = self.nines_max as usize + 1;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.caption, ("sans-serif", 26))
            .margin(16)
            .margin_right(48)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..self.nines_max, y_range)
            .map_err(error_text)?;
        let y_description = if log_scale {
            "latency (ms, log scale)"
        } else {
            "latency (ms)"
        };
        chart
            .configure_mesh()
            .x_labels(nines_labels)
            // Light lines between two nines would mark linear steps on a logarithmic axis.
            .x_max_light_lines(0)
            .x_desc("percentile")
            .y_desc(y_description)
            .x_label_formatter(&|nines| percentile_label(*nines))
            .y_label_formatter(&|latency_ms| milliseconds_label(*latency_ms))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()
            .map_err(error_text)?;

        let floor_ms = if log_scale { LATENCY_FLOOR_MS } else { 0.0 };
        for curve in &self.curves {
            let colour = curve.colour;
            let points = curve
                .points
                .iter()
                .map(move |&(nines, latency_ms)| (nines, latency_ms.max(floor_ms)));
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(error_text)?
                .label(curve.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
                });
            for target in &curve.targets {
                let (nines, latency_ms) = (target.nines, target.latency_ms);
                let left = (nines - TARGET_MARK_HALF_WIDTH_NINES).max(0.0);
                let right = (nines + TARGET_MARK_HALF_WIDTH_NINES).min(self.nines_max);
                chart
                    .draw_series([PathElement::new(
                        vec![(left, latency_ms), (right, latency_ms)],
                        colour.stroke_width(3),
                    )])
                    .map_err(error_text)?;
                let label = format!(
                    "{} target {} ms",
                    target.label,
                    milliseconds_label(latency_ms)
                );
                // The label sits above the mark, running away from the nearer edge of the chart.
                let anchor = if nines > self.nines_max / 2.0 {
                    Pos::new(HPos::Right, VPos::Bottom)
                } else {
                    Pos::new(HPos::Left, VPos::Bottom)
                };
                let label_style = ("sans-serif", 13).into_font().color(&colour).pos(anchor);
                chart
                    .draw_series([EmptyElement::at((nines, latency_ms))
                        + Cross::new((0, 0), 6, colour.stroke_width(2))
                        + Text::new(label, (0, -8), label_style)])
                    .map_err(error_text)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .draw()
            .map_err(error_text)
    }
}

impl<'a> Curve<'a> {
    fn new(series: &Series<'a>, colour: RGBColor) -> Result<Self, String> {
        let histogram = series.histogram;
        // The last point that one of `count` samples supports is the quantile 1 - 1/count, at
        // log10(count) nines; a curve runs at least to 90% so that it is visible.
        let count = histogram.len() as f64;
        let nines_end = count.log10().clamp(1.0, PLOT_NINES_MAX);
        let steps = (nines_end / PLOT_NINES_STEP).ceil() as u32;
        let mut points: Vec<(f64, f64)> = (0..steps)
            .map(|step| {
                let nines = f64::from(step) * PLOT_NINES_STEP;
                (
                    nines,
                    milliseconds(histogram.value_at_quantile(quantile_of_nines(nines))),
                )
            })
            .collect();
        points.push((nines_end, milliseconds(histogram.max())));

        let mut targets = Vec::with_capacity(series.target_ms.len());
        for (label, latency_ms) in series.target_ms {
            if !(latency_ms.is_finite() && *latency_ms > 0.0) {
                return Err(format!(
                    "series {:?}: target {label} = {latency_ms} ms is not a positive number of milliseconds",
                    series.name
                ));
            }
            if let Some(percent) = target_percentile(label) {
                targets.push(TargetMark {
                    label,
                    nines: nines_of_percentile(percent),
                    latency_ms: *latency_ms,
                });
            }
        }
        Ok(Self {
            name: series.name,
            colour,
            points,
            targets,
        })
    }
}

fn milliseconds(nanoseconds: u64) -> f64 {
    nanoseconds as f64 / NANOSECONDS_PER_MILLISECOND
}

/// The quantile (0 to 1) at `nines` on the percentile axis: 0 at 0, 0.9 at 1, 0.99 at 2.
fn quantile_of_nines(nines: f64) -> f64 {
    1.0 - 10f64.powf(-nines)
}

/// Where `percent` (0 to 100) lies on the nines axis; 100% is infinitely far, so it is returned
/// as the axis' far end.
fn nines_of_percentile(percent: f64) -> f64 {
    let remaining = 1.0 - percent / 100.0;
    if remaining <= 10f64.powf(-PLOT_NINES_MAX) {
        PLOT_NINES_MAX
    } else {
        -remaining.log10()
    }
}

/// The percentile a target names: `p(95)`, `p95`, `p(99.9)`, `med` (50), `min` (0), `max`
/// (100); `None` for anything else, such as `avg`.
fn target_percentile(label: &str) -> Option<f64> {
    let label = label.trim();
    let percent = match label {
        "med" => 50.0,
        "min" => 0.0,
        "max" => 100.0,
        _ => {
            let number = label.strip_prefix('p')?;
            let number = number
                .strip_prefix('(')
                .and_then(|inner| inner.strip_suffix(')'))
                .unwrap_or(number);
            number.trim().parse::<f64>().ok()?
        }
    };
    (0.0..=100.0).contains(&percent).then_some(percent)
}

/// The label of a point on the nines axis: "0%", "90%", "99%", "99.9%", ...
fn percentile_label(nines: f64) -> String {
    let percent = 100.0 * quantile_of_nines(nines);
    let decimals = (nines.round() as usize).saturating_sub(2);
    format!("{percent:.decimals$}%")
}

/// A latency in milliseconds with as many decimals as its size needs: "1500", "12.5", "0.042".
fn milliseconds_label(latency_ms: f64) -> String {
    let text = if latency_ms >= 100.0 {
        format!("{latency_ms:.0}")
    } else if latency_ms >= 1.0 {
        format!("{latency_ms:.2}")
    } else {
        format!("{latency_ms:.4}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Registers the bundled Noto Sans as plotters' "sans-serif" font, once per process.
///
/// Both backends need it: plotters measures text with it to lay out the chart, and the bitmap
/// backend draws glyphs with it.
fn register_bundled_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, ttf_noto_sans::REGULAR)
                .map_err(|_| "the bundled Noto Sans font failed to load".to_owned())
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use std::path::PathBuf;

    /// Two series, `place_bet` with `targets` and `cancel_bet` with none.
    fn place_and_cancel<'a>(
        place: &'a Histogram<u64>,
        cancel: &'a Histogram<u64>,
        targets: &'a [(String, f64)],
    ) -> [Series<'a>; 2] {
        [
            Series {
                name: "place_bet",
                histogram: place,
                target_ms: targets,
            },
            Series {
                name: "cancel_bet",
                histogram: cancel,
                target_ms: &[],
            },
        ]
    }

    /// A directory under the system's temporary directory, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> Self {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|since| since.as_nanos())
                .unwrap_or(0);
            let path = std::env::temp_dir().join(format!(
                "oddsmatch-loadgen-output-{test}-{}-{nanos}",
                std::process::id()
            ));
            std::fs::create_dir_all(&path).expect("create temp dir");
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A histogram of `count` latencies spread evenly from `low_ns` to `high_ns`.
    fn histogram(count: u64, low_ns: u64, high_ns: u64) -> Histogram<u64> {
        let mut histogram =
            Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
        for index in 0..count {
            let value = low_ns + (high_ns - low_ns) * index / count.max(2).saturating_sub(1);
            histogram.record(value).expect("record");
        }
        histogram
    }

    /// Decodes standard base64 (with padding), as the interval log encodes histograms.
    fn base64_decode(text: &str) -> Vec<u8> {
        fn sextet(byte: u8) -> u32 {
            match byte {
                b'A'..=b'Z' => u32::from(byte - b'A'),
                b'a'..=b'z' => u32::from(byte - b'a') + 26,
                b'0'..=b'9' => u32::from(byte - b'0') + 52,
                b'+' => 62,
                b'/' => 63,
                _ => panic!("not base64: {byte}"),
            }
        }
        let mut bytes = Vec::new();
        for chunk in text.trim_end_matches('=').as_bytes().chunks(4) {
            let mut bits = 0u32;
            for (index, &byte) in chunk.iter().enumerate() {
                bits |= sextet(byte) << (18 - 6 * index);
            }
            let [_, first, second, third] = bits.to_be_bytes();
            bytes.extend_from_slice(&[first, second, third][..chunk.len() - 1]);
        }
        bytes
    }

    #[test]
    fn hdr_log_reads_back_with_tags_and_counts() {
        let dir = TempDir::new("log");
        let path = dir.0.join("run.hlog");
        let place = histogram(1000, 50_000, 5_000_000);
        let cancel = histogram(250, 20_000, 900_000);
        let targets = [("p(95)".to_owned(), 150.0)];
        let series = place_and_cancel(&place, &cancel, &targets);
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        write_hdr_log(&path, "peak\nhour", start, Duration::from_secs(60), &series)
            .expect("write log");

        let log = std::fs::read(&path).expect("read log");
        let text = String::from_utf8(log.clone()).expect("utf-8");
        assert!(
            text.starts_with("#oddsmatch loadgen, scenario: peak hour\n"),
            "{text}"
        );
        assert!(
            text.contains("#[Histogram log format version 1.3]\n"),
            "{text}"
        );
        assert!(text.contains(LOG_LEGEND_LINE), "{text}");

        let mut deserializer = Deserializer::new();
        let mut read: Vec<(String, u64, u64)> = Vec::new();
        let mut start_times = Vec::new();
        let mut base_times = Vec::new();
        for entry in IntervalLogIterator::new(&log) {
            match entry.expect("parse log") {
                LogEntry::StartTime(time) => start_times.push(time),
                LogEntry::BaseTime(time) => base_times.push(time),
                LogEntry::Interval(interval) => {
                    assert_eq!(interval.start_timestamp(), Duration::ZERO);
                    assert_eq!(interval.duration(), Duration::from_secs(60));
                    let bytes = base64_decode(interval.encoded_histogram());
                    let decoded: Histogram<u64> = deserializer
                        .deserialize(&mut bytes.as_slice())
                        .expect("deserialize");
                    let tag = interval.tag().expect("tagged").as_str().to_owned();
                    read.push((tag, decoded.len(), decoded.max()));
                }
            }
        }
        assert_eq!(start_times, [Duration::from_secs(1_700_000_000)]);
        assert_eq!(base_times, [Duration::from_secs(1_700_000_000)]);
        assert_eq!(
            read,
            [
                ("place_bet".to_owned(), 1000, place.max()),
                ("cancel_bet".to_owned(), 250, cancel.max()),
            ]
        );
    }

    #[test]
    fn hdr_log_rejects_what_it_cannot_write() {
        let dir = TempDir::new("log-errors");
        let path = dir.0.join("run.hlog");
        let start = SystemTime::now();
        let minute = Duration::from_secs(60);
        let error = write_hdr_log(&path, "s", start, minute, &[]).expect_err("no series");
        assert!(error.contains("no latency series"), "{error}");

        let some = histogram(10, 1_000, 2_000);
        let spaced = [Series {
            name: "place bet",
            histogram: &some,
            target_ms: &[],
        }];
        let error = write_hdr_log(&path, "s", start, minute, &spaced).expect_err("bad tag");
        assert!(error.contains("\"place bet\""), "{error}");

        let twice = [
            Series {
                name: "place_bet",
                histogram: &some,
                target_ms: &[],
            },
            Series {
                name: "place_bet",
                histogram: &some,
                target_ms: &[],
            },
        ];
        let error = write_hdr_log(&path, "s", start, minute, &twice).expect_err("duplicate");
        assert!(error.contains("twice"), "{error}");
        assert!(!path.exists());

        let missing = dir.0.join("no-such-dir").join("run.hlog");
        let one = [Series {
            name: "place_bet",
            histogram: &some,
            target_ms: &[],
        }];
        let error = write_hdr_log(&missing, "s", start, minute, &one).expect_err("no directory");
        assert!(error.contains("no-such-dir"), "{error}");
    }

    #[test]
    fn hdr_log_keeps_a_series_without_samples() {
        let dir = TempDir::new("log-empty");
        let path = dir.0.join("run.hlog");
        let empty = Histogram::<u64>::new(3).expect("histogram");
        let series = [Series {
            name: "settle",
            histogram: &empty,
            target_ms: &[],
        }];
        write_hdr_log(
            &path,
            "s",
            SystemTime::now(),
            Duration::from_secs(1),
            &series,
        )
        .expect("write");
        let log = std::fs::read(&path).expect("read");
        let intervals: Vec<String> = IntervalLogIterator::new(&log)
            .filter_map(|entry| match entry.expect("parse") {
                LogEntry::Interval(interval) => interval.tag().map(|tag| tag.as_str().to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(intervals, ["settle"]);
    }

    fn two_series_fixture() -> (Histogram<u64>, Histogram<u64>, Vec<(String, f64)>) {
        let place = histogram(20_000, 100_000, 400_000_000);
        let cancel = histogram(5_000, 50_000, 2_000_000);
        let targets = vec![
            ("p(95)".to_owned(), 150.0),
            ("p(99)".to_owned(), 300.0),
            ("max".to_owned(), 500.0),
            ("avg".to_owned(), 40.0),
        ];
        (place, cancel, targets)
    }

    #[test]
    fn plot_writes_svg_with_the_series_names() {
        let dir = TempDir::new("svg");
        let path = dir.0.join("latency.svg");
        let (place, cancel, targets) = two_series_fixture();
        let series = place_and_cancel(&place, &cancel, &targets);
        plot(&path, "peak <hour>", &series).expect("plot svg");
        let svg = std::fs::read_to_string(&path).expect("read svg");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.contains("place_bet"));
        assert!(svg.contains("cancel_bet"));
        assert!(svg.contains("peak &lt;hour&gt;: latency by percentile"));
        assert!(svg.contains("99.9%"));
        assert!(svg.contains("p(95) target 150 ms"));
        assert!(!svg.contains("avg target"));
    }

    #[test]
    fn plot_writes_png() {
        let dir = TempDir::new("png");
        let path = dir.0.join("latency.PNG");
        let (place, cancel, targets) = two_series_fixture();
        let empty = Histogram::<u64>::new(3).expect("histogram");
        let series = [
            Series {
                name: "place_bet",
                histogram: &place,
                target_ms: &targets,
            },
            Series {
                name: "cancel_bet",
                histogram: &cancel,
                target_ms: &[],
            },
            Series {
                name: "settle",
                histogram: &empty,
                target_ms: &[],
            },
        ];
        plot(&path, "peak hour", &series).expect("plot png");
        let png = std::fs::read(&path).expect("read png");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.len() > 10_000, "{} bytes", png.len());
    }

    #[test]
    fn plot_narrow_range_uses_a_linear_axis() {
        let dir = TempDir::new("linear");
        let path = dir.0.join("latency.svg");
        let narrow = histogram(100, 1_000_000, 3_000_000);
        let series = [Series {
            name: "quote",
            histogram: &narrow,
            target_ms: &[],
        }];
        plot(&path, "s", &series).expect("plot");
        let svg = std::fs::read_to_string(&path).expect("read svg");
        assert!(svg.contains("latency (ms)"));
        assert!(!svg.contains("log scale"));
    }

    #[test]
    fn plot_rejects_bad_input() {
        let dir = TempDir::new("plot-errors");
        let (place, _, _) = two_series_fixture();
        let series = [Series {
            name: "place_bet",
            histogram: &place,
            target_ms: &[],
        }];

        for name in ["latency.jpg", "latency", "latency.svg.txt"] {
            let path = dir.0.join(name);
            let error = plot(&path, "s", &series).expect_err("bad extension");
            assert!(error.contains(".png or .svg"), "{error}");
            assert!(!path.exists());
        }

        let svg = dir.0.join("latency.svg");
        let error = plot(&svg, "s", &[]).expect_err("no series");
        assert!(error.contains("no latency samples"), "{error}");
        let empty = Histogram::<u64>::new(3).expect("histogram");
        let only_empty = [Series {
            name: "settle",
            histogram: &empty,
            target_ms: &[],
        }];
        let error = plot(&svg, "s", &only_empty).expect_err("empty histogram");
        assert!(error.contains("no latency samples"), "{error}");

        let negative = [("p(95)".to_owned(), -1.0)];
        let bad_target = [Series {
            name: "place_bet",
            histogram: &place,
            target_ms: &negative,
        }];
        let error = plot(&svg, "s", &bad_target).expect_err("negative target");
        assert!(error.contains("p(95)"), "{error}");
        assert!(!svg.exists());

        let png = dir.0.join("no-such-dir").join("latency.png");
        assert!(plot(&png, "s", &series).is_err());
    }

    #[test]
    fn target_names_map_to_percentiles() {
        assert_eq!(target_percentile("p(95)"), Some(95.0));
        assert_eq!(target_percentile("p(99.9)"), Some(99.9));
        assert_eq!(target_percentile("p99"), Some(99.0));
        assert_eq!(target_percentile("med"), Some(50.0));
        assert_eq!(target_percentile("max"), Some(100.0));
        assert_eq!(target_percentile("avg"), None);
        assert_eq!(target_percentile("p(101)"), None);
        assert_eq!(target_percentile("p(x)"), None);
    }

    #[test]
    fn nines_axis_labels_and_positions() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(5.0), "99.999%");
        assert!((nines_of_percentile(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(nines_of_percentile(100.0), PLOT_NINES_MAX);
        assert_eq!(milliseconds_label(150.0), "150");
        assert_eq!(milliseconds_label(12.5), "12.5");
        assert_eq!(milliseconds_label(0.042), "0.042");
    }
}
