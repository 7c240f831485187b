//! The dashboard: the counts of merchants, events and customers, the orders and revenue of the chosen
//! period, the period form (from, to, by day or month: the seed's "Periode" and "Aggregation"), and the
//! chart drawn as SVG from `chart::layout`.

use maud::{html, Markup};

use super::layout::page;
use super::Frame;
use crate::chart::{layout, Chart, ChartPoint};
use crate::format::{grouped, Display};
use crate::model::Stats;

/// The chart's drawing size (it scales to the card's width).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 300.0;

/// The chosen period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodChoice {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day.
    pub to: String,
    /// By month (else by day).
    pub monthly: bool,
}

/// The chart's points for the choice: days as `02 Dec`-style labels, months as `2026-11`.
pub fn points(stats: &Stats, monthly: bool) -> Vec<ChartPoint> {
    let periods = if monthly { &stats.by_month } else { &stats.by_day };
    periods
        .iter()
        .map(|period| {
            let label = if monthly {
                period.label.clone()
            } else {
                period
                    .label
                    .parse::<jiff::civil::Date>()
                    .map_or_else(|_| period.label.clone(), |day| day.strftime("%d %b").to_string())
            };
            ChartPoint { label, orders: period.orders, revenue: period.revenue }
        })
        .collect()
}

/// The chart as SVG: grid, revenue bars with their values as tooltips, the orders line, both axes.
pub fn chart_svg(chart: &Chart, points: &[ChartPoint], display: &Display) -> Markup {
    let line: String = chart.line.iter().map(|(x, y)| format!("{x},{y}")).collect::<Vec<_>>().join(" ");
    html! {
        svg viewBox={ "0 0 " (chart.width) " " (chart.height) } role="img" aria-label="Orders and revenue" {
            @for (revenue, orders) in chart.revenue_ticks.iter().zip(&chart.order_ticks) {
                line.grid x1=(chart.left) x2=(chart.right) y1=(revenue.y) y2=(revenue.y) {}
                text.axis x=(chart.left - 8.0) y=(revenue.y + 4.0) text-anchor="end" { (compact(revenue.value)) }
                text.axis x=(chart.right + 8.0) y=(orders.y + 4.0) { (orders.value) }
            }
            @for (bar, point) in chart.bars.iter().zip(points) {
                rect.bar x=(bar.x) y=(bar.y) width=(bar.width) height=(bar.height) rx="3" {
                    title { (point.label) ": " (display.amount(point.revenue)) ", " (point.orders) " orders" }
                }
            }
            @if !chart.line.is_empty() { polyline.line points=(line) {} }
            @for (x, y) in &chart.line { circle.dot cx=(x) cy=(y) r="3.5" {} }
            @for (x, label) in &chart.labels {
                text.axis x=(x) y=(chart.bottom + 18.0) text-anchor="middle" { (label) }
            }
        }
    }
}

/// An axis value in short form: `1.5M`, `250K`, `900`.
pub fn compact(value: i64) -> String {
    match value {
        v if v >= 1_000_000 && v % 1_000_000 == 0 => format!("{}M", v / 1_000_000),
        v if v >= 1_000_000 => format!("{:.1}M", v as f64 / 1_000_000.0),
        v if v >= 1_000 && v % 1_000 == 0 => format!("{}K", v / 1_000),
        v if v >= 1_000 => format!("{:.1}K", v as f64 / 1_000.0),
        v => v.to_string(),
    }
}

/// The dashboard page.
pub fn dashboard(frame: Frame<'_>, stats: &Stats, choice: &PeriodChoice) -> Markup {
    let points = points(stats, choice.monthly);
    let chart = layout(&points, WIDTH, HEIGHT);
    let display = frame.display;
    page(
        frame,
        "Dashboard",
        html! {},
        html! {
            div.stats {
                div.stat.merchants { div.label { "Merchants" } div.value data-test="merchants" { (grouped(stats.merchants)) } }
                div.stat.events { div.label { "Events" } div.value data-test="events" { (grouped(stats.events)) } }
                div.stat.customers { div.label { "Customers" } div.value data-test="customers" { (grouped(stats.customers)) } }
                div.stat.revenue {
                    div.label { "Revenue in the period" }
                    div.value data-test="revenue" { (display.amount(stats.revenue)) }
                    div.sub data-test="orders" { (grouped(stats.orders)) @if stats.orders == 1 { " paid order" } @else { " paid orders" } }
                }
            }
            div.card.chart {
                div.toolbar {
                    h2 { "Orders and revenue" }
                    form method="get" action="/dashboard" {
                        label.sub for="from" { "Period" }
                        input #from type="date" name="from" value=(choice.from);
                        span.sub { "to" }
                        input #to type="date" name="to" value=(choice.to);
                        label.sub for="by" { "Aggregation" }
                        select #by name="by" {
                            option value="day" selected[!choice.monthly] { "by day" }
                            option value="month" selected[choice.monthly] { "by month" }
                        }
                        button.ghost type="submit" { "Show" }
                    }
                }
                div.legend { span { i style="background:#7c5cff" {} "Revenue (left)" } span { i style="background:#ff6bb5" {} "Orders (right)" } }
                (chart_svg(&chart, &points, display))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Period;

    fn stats() -> Stats {
        let period = |label: &str, orders, revenue| Period { label: label.into(), orders, revenue };
        Stats {
            merchants: 2,
            events: 3,
            customers: 1,
            orders: 1,
            revenue: 2_500_000,
            by_day: vec![period("2026-12-01", 0, 0), period("2026-12-02", 1, 2_500_000)],
            by_month: vec![period("2026-12", 1, 2_500_000)],
        }
    }

    #[test]
    fn the_chart_has_a_bar_and_a_point_per_period() {
        let daily = points(&stats(), false);
        assert_eq!(daily.iter().map(|point| point.label.as_str()).collect::<Vec<_>>(), ["01 Dec", "02 Dec"]);
        assert_eq!(points(&stats(), true)[0].label, "2026-12");
        let display = Display { time_zone: jiff::tz::TimeZone::UTC, currency: "Rp".into() };
        let svg = chart_svg(&layout(&daily, WIDTH, HEIGHT), &daily, &display).into_string();
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("02 Dec: Rp 2.500.000, 1 orders"), "{svg}");
    }

    #[test]
    fn axis_values_are_short() {
        let cases =
            [(0, "0"), (900, "900"), (250_000, "250K"), (1_500_000, "1.5M"), (4_000_000, "4M"), (2_500, "2.5K")];
        for (value, expected) in cases {
            assert_eq!(compact(value), expected, "{value}");
        }
    }
}
