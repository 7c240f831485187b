//! The geometry of the dashboard's chart, pure: revenue per period as bars on the left axis, orders as a line
//! on the right axis, both scaled to a "nice" maximum (1, 2, 2.5 or 5 times a power of ten), with four grid
//! lines and at most eight labels under the bars. The SVG is drawn from it by `views::dashboard`; nothing
//! here renders.

/// One period of the chart (a day or a month).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartPoint {
    /// The label under its bar.
    pub label: String,
    /// Orders paid in it.
    pub orders: i64,
    /// Revenue in it.
    pub revenue: i64,
}

/// A bar, in SVG user units (y grows downwards).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// A grid line and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// Its height.
    pub y: f64,
    /// The revenue or order count it stands for.
    pub value: i64,
}

/// The chart's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The drawing's width.
    pub width: f64,
    /// The drawing's height.
    pub height: f64,
    /// The plot area's left edge (the revenue axis).
    pub left: f64,
    /// The plot area's right edge (the orders axis).
    pub right: f64,
    /// The plot area's top.
    pub top: f64,
    /// The plot area's bottom (the base line).
    pub bottom: f64,
    /// Revenue bars, one a point.
    pub bars: Vec<Bar>,
    /// The orders line's points, one a point.
    pub line: Vec<(f64, f64)>,
    /// Revenue grid lines, bottom (0) to top.
    pub revenue_ticks: Vec<Tick>,
    /// Orders values at the same grid lines.
    pub order_ticks: Vec<Tick>,
    /// Labels under the bars: (centre, text).
    pub labels: Vec<(f64, String)>,
}

/// Margins around the plot: left and right hold the axes' values, the bottom the labels.
const MARGIN_SIDE: f64 = 64.0;
const MARGIN_TOP: f64 = 12.0;
const MARGIN_BOTTOM: f64 = 28.0;
/// Grid lines above the base line.
const GRID_LINES: i64 = 4;
/// Most labels shown under the bars.
const MAX_LABELS: usize = 8;
/// The widest bar (a few months would otherwise draw slabs).
const MAX_BAR: f64 = 56.0;

/// The smallest "nice" number (1, 2, 2.5 or 5 times a power of ten, times the grid lines' count) at or
/// above `value`, so that every grid line has a round value; 4 for nothing.
pub fn nice_maximum(value: i64) -> i64 {
    let per_line = (value.max(1) + GRID_LINES - 1) / GRID_LINES;
    let mut power = 1i64;
    loop {
        for step in [10, 20, 25, 50] {
            let candidate = power.saturating_mul(step) / 10;
            if candidate >= per_line && candidate > 0 {
                return candidate.saturating_mul(GRID_LINES);
            }
        }
        if power > i64::MAX / 100 {
            return value;
        }
        power *= 10;
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Lays out `points` in a `width` × `height` drawing.
pub fn layout(points: &[ChartPoint], width: f64, height: f64) -> Chart {
    let (left, right, top, bottom) = (MARGIN_SIDE, width - MARGIN_SIDE, MARGIN_TOP, height - MARGIN_BOTTOM);
    let plot_height = bottom - top;
    let revenue_max = nice_maximum(points.iter().map(|point| point.revenue).max().unwrap_or(0));
    let orders_max = nice_maximum(points.iter().map(|point| point.orders).max().unwrap_or(0));
    let slot = if points.is_empty() { 0.0 } else { (right - left) / points.len() as f64 };
    let y_of = |value: i64, max: i64| round(bottom - value.max(0) as f64 / max as f64 * plot_height);
    let centre = |index: usize| left + slot * (index as f64 + 0.5);
    let bars = points
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let y = y_of(point.revenue, revenue_max);
            let width = (slot * 0.6).min(MAX_BAR);
            Bar { x: round(centre(index) - width / 2.0), y, width: round(width), height: round(bottom - y) }
        })
        .collect();
    let line = points
        .iter()
        .enumerate()
        .map(|(index, point)| (round(centre(index)), y_of(point.orders, orders_max)))
        .collect();
    let ticks = |max: i64| {
        (0..=GRID_LINES)
            .map(|step| Tick { y: y_of(max / GRID_LINES * step, max), value: max / GRID_LINES * step })
            .collect()
    };
    let every = points.len().div_ceil(MAX_LABELS).max(1);
    let labels = points
        .iter()
        .enumerate()
        .filter(|(index, _)| index % every == 0)
        .map(|(index, point)| (round(centre(index)), point.label.clone()))
        .collect();
    Chart {
        width,
        height,
        left,
        right,
        top,
        bottom,
        bars,
        line,
        revenue_ticks: ticks(revenue_max),
        order_ticks: ticks(orders_max),
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(label: &str, orders: i64, revenue: i64) -> ChartPoint {
        ChartPoint { label: label.into(), orders, revenue }
    }

    #[test]
    fn the_maximum_is_a_round_number_per_grid_line() {
        let cases = [
            ("nothing", 0, 4),
            ("one", 1, 4),
            ("four", 4, 4),
            ("five", 5, 8),
            ("nine", 9, 20),
            ("seventeen", 17, 20),
            ("revenue", 3_250_000, 4_000_000),
            ("just_above", 4_000_001, 8_000_000),
            ("two_and_a_half", 950, 1000),
        ];
        for (case, value, expected) in cases {
            assert_eq!(nice_maximum(value), expected, "{case}");
        }
    }

    #[test]
    fn bars_and_line_scale_to_their_axes() {
        // 400 wide, 200 high: the plot is x 64..336, y 12..172 (160 high); two slots of 136
        let chart = layout(&[point("Nov", 2, 1_000_000), point("Dec", 4, 2_000_000)], 400.0, 200.0);
        assert_eq!((chart.left, chart.right, chart.top, chart.bottom), (64.0, 336.0, 12.0, 172.0));
        // revenue max 2,000,000 (nice: 2,000,000), orders max 4; bars at most 56 wide (not 0.6 × 136)
        assert_eq!(chart.bars[0], Bar { x: 104.0, y: 92.0, width: 56.0, height: 80.0 });
        assert_eq!(chart.bars[1], Bar { x: 240.0, y: 12.0, width: 56.0, height: 160.0 });
        assert_eq!(chart.line, vec![(132.0, 92.0), (268.0, 12.0)]);
        assert_eq!(
            chart.revenue_ticks.iter().map(|tick| tick.value).collect::<Vec<_>>(),
            [0, 500_000, 1_000_000, 1_500_000, 2_000_000]
        );
        assert_eq!(chart.revenue_ticks.iter().map(|tick| tick.y).collect::<Vec<_>>(), [172.0, 132.0, 92.0, 52.0, 12.0]);
        assert_eq!(chart.order_ticks.iter().map(|tick| tick.value).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!(chart.labels, vec![(132.0, "Nov".to_string()), (268.0, "Dec".to_string())]);
    }

    #[test]
    fn an_empty_period_draws_flat_and_many_points_thin_their_labels() {
        let zeros: Vec<ChartPoint> = (1..=31).map(|day| point(&format!("{day:02}"), 0, 0)).collect();
        let chart = layout(&zeros, 800.0, 240.0);
        // 31 slots of (800 - 128) / 31: bars 0.6 of a slot wide
        assert_eq!(chart.bars[0].width, 13.0);
        assert!(chart.bars.iter().all(|bar| bar.height == 0.0 && bar.y == chart.bottom));
        assert!(chart.line.iter().all(|(_, y)| *y == chart.bottom));
        assert_eq!(chart.labels.len(), 8, "every 4th of 31 days is labelled");
        assert_eq!(chart.labels[1].1, "05");
        let none = layout(&[], 400.0, 200.0);
        assert!(none.bars.is_empty() && none.labels.is_empty());
    }
}
