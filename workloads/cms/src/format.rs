//! How values are shown and read back, pure: amounts with thousands separators and the currency label,
//! dates and times in the venue's time zone, `datetime-local` form values and their parsing, page counts.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The display settings: the venue's time zone and the currency label.
#[derive(Debug, Clone)]
pub struct Display {
    /// Times are shown and entered in this zone.
    pub time_zone: TimeZone,
    /// Put before amounts (`Rp`).
    pub currency: String,
}

impl Display {
    /// `1.250.000` with the label: `Rp 1.250.000`.
    pub fn amount(&self, value: i64) -> String {
        format!("{} {}", self.currency, grouped(value))
    }

    /// `17 Mar 2023`.
    pub fn date(&self, at: Timestamp) -> String {
        at.to_zoned(self.time_zone.clone()).strftime("%d %b %Y").to_string()
    }

    /// `17 Mar 2023 18:20`.
    pub fn date_time(&self, at: Timestamp) -> String {
        at.to_zoned(self.time_zone.clone()).strftime("%d %b %Y %H:%M").to_string()
    }

    /// The value of a `datetime-local` input: `2023-03-17T18:20`.
    pub fn input(&self, at: Timestamp) -> String {
        at.to_zoned(self.time_zone.clone()).strftime("%Y-%m-%dT%H:%M").to_string()
    }

    /// A `datetime-local` value read in the zone.
    pub fn parse_input(&self, value: &str) -> Result<Timestamp, String> {
        let civil: DateTime = value.trim().parse().map_err(|_| "must be a date and time".to_string())?;
        civil.to_zoned(self.time_zone.clone()).map(|zoned| zoned.timestamp()).map_err(|error| error.to_string())
    }
}

/// `1250000` → `1.250.000` (the seed's Indonesian grouping).
pub fn grouped(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push('.');
        }
        out.push(digit);
    }
    if value < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Pages needed for `total` rows at `per_page` a page (at least 1).
pub fn page_count(total: i64, per_page: i64) -> i64 {
    if per_page <= 0 {
        return 1;
    }
    ((total + per_page - 1) / per_page).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jakarta() -> Display {
        Display { time_zone: TimeZone::get("Asia/Jakarta").unwrap(), currency: "Rp".into() }
    }

    #[test]
    fn amounts_are_grouped_by_thousands() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1000, "1.000"),
            (200_000, "200.000"),
            (1_250_000, "1.250.000"),
            (-4500, "-4.500"),
        ];
        for (value, expected) in cases {
            assert_eq!(grouped(value), expected, "{value}");
        }
        assert_eq!(jakarta().amount(750_000), "Rp 750.000");
    }

    #[test]
    fn times_are_shown_and_read_in_the_venues_zone() {
        let at: Timestamp = "2023-03-18T11:20:00Z".parse().unwrap();
        let display = jakarta();
        assert_eq!(display.date(at), "18 Mar 2023");
        assert_eq!(display.date_time(at), "18 Mar 2023 18:20");
        assert_eq!(display.input(at), "2023-03-18T18:20");
        assert_eq!(display.parse_input("2023-03-18T18:20"), Ok(at));
        assert_eq!(display.parse_input("tomorrow"), Err("must be a date and time".to_string()));
    }

    #[test]
    fn page_counts_round_up() {
        let cases = [(0, 20, 1), (1, 20, 1), (20, 20, 1), (21, 20, 2), (53, 20, 3), (5, 0, 1)];
        for (total, per_page, expected) in cases {
            assert_eq!(page_count(total, per_page), expected, "{total}/{per_page}");
        }
    }
}
