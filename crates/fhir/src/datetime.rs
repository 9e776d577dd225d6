//! FHIR `date`, `dateTime`, `instant` and `time` values.
//!
//! Parsing follows the R4 regular expressions (year 0001–9999, partial dates, a time needs
//! seconds and a time zone) and additionally rejects impossible calendar dates such as
//! `2019-02-30`.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// A calendar date (a partial FHIR date is completed with month 1 / day 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Date {
    /// Year, 1–9999.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of month, 1–31.
    pub day: u8,
}

impl Date {
    /// Build a date, checking that it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        ((1..=9999).contains(&year) && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month))
            .then_some(Date { year, month, day })
    }

    /// Parse the date part of any FHIR `date`, `dateTime` or `instant` (a time is ignored;
    /// missing month or day become 1).
    pub fn parse(s: &str) -> Option<Date> {
        DateTime::parse(s).ok().map(|d| d.date())
    }

    /// Whole years from `self` (a birth date) to `at`; `None` if `at` is earlier.
    pub fn years_until(self, at: Date) -> Option<u32> {
        if at < self {
            return None;
        }
        let mut years = u32::from(at.year - self.year);
        if (at.month, at.day) < (self.month, self.day) {
            years = years.saturating_sub(1);
        }
        Some(years)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(i64::from(self.year), self.month, self.day)
    }

    /// The UTC date of a Unix time (seconds); `None` outside years 1–9999.
    pub fn from_unix_seconds(seconds: i64) -> Option<Date> {
        // Howard Hinnant's civil_from_days, the inverse of `days_from_civil`
        let z = seconds.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(u16::try_from(year).ok()?, month, day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A time of day (`hh:mm:ss[.fff]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Time {
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–60 (60 for a leap second).
    pub second: u8,
    /// Fraction of a second in nanoseconds (digits beyond nine are dropped).
    pub nanos: u32,
}

impl Time {
    /// Parse a FHIR `time`.
    pub fn parse(s: &str) -> Result<Time, String> {
        let mut c = Cursor::new(s);
        let t = c.time().ok_or_else(|| format!("not a valid time: '{s}'"))?;
        if !c.done() {
            return Err(format!("not a valid time: '{s}'"));
        }
        Ok(t)
    }

    fn seconds(self) -> i64 {
        i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second)
    }
}

/// A FHIR `date`, `dateTime` or `instant`, possibly partial (year, year-month, date, or a
/// full timestamp with time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateTime {
    /// Year, 1–9999.
    pub year: u16,
    /// Month, if given.
    pub month: Option<u8>,
    /// Day, if given (only with a month).
    pub day: Option<u8>,
    /// Time of day, if given (only with a day, and then always with `offset_minutes`).
    pub time: Option<Time>,
    /// Time-zone offset from UTC in minutes (`Z` is 0), present exactly when a time is.
    pub offset_minutes: Option<i16>,
}

impl DateTime {
    /// Parse a FHIR `dateTime`: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or
    /// `YYYY-MM-DDThh:mm:ss[.f+](Z|(+|-)hh:mm)`.
    pub fn parse(s: &str) -> Result<DateTime, String> {
        let mut c = Cursor::new(s);
        let d = c.date_time(true).ok_or_else(|| bad("dateTime", s))?;
        if !c.done() {
            if c.peek() == Some(b'T') && d.day.is_some() {
                return Err(format!("not a valid dateTime: '{s}' (a time needs seconds and a time zone)"));
            }
            return Err(bad("dateTime", s));
        }
        Ok(d)
    }

    /// Parse a FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub fn parse_date(s: &str) -> Result<DateTime, String> {
        let mut c = Cursor::new(s);
        let d = c.date_time(false).ok_or_else(|| bad("date", s))?;
        if !c.done() {
            return Err(bad("date", s));
        }
        Ok(d)
    }

    /// Parse a FHIR `instant`: a full timestamp with seconds and time zone.
    pub fn parse_instant(s: &str) -> Result<DateTime, String> {
        let d = DateTime::parse(s).map_err(|_| bad("instant", s))?;
        if d.time.is_none() {
            return Err(format!("not a valid instant: '{s}' (needs date, time and time zone)"));
        }
        Ok(d)
    }

    /// The calendar date (missing month or day become 1).
    pub fn date(&self) -> Date {
        Date { year: self.year, month: self.month.unwrap_or(1), day: self.day.unwrap_or(1) }
    }

    /// The earliest and latest UTC second this value can denote (partial values cover a
    /// range; values without a time zone are taken as UTC).
    pub fn bounds(&self) -> (i64, i64) {
        let y = i64::from(self.year);
        match (self.month, self.day, self.time) {
            (Some(m), Some(d), Some(t)) => {
                let s =
                    days_from_civil(y, m, d) * 86_400 + t.seconds() - i64::from(self.offset_minutes.unwrap_or(0)) * 60;
                (s, s)
            }
            (Some(m), Some(d), None) => {
                let s = days_from_civil(y, m, d) * 86_400;
                (s, s + 86_399)
            }
            (Some(m), None, _) => {
                let s = days_from_civil(y, m, 1) * 86_400;
                let days = i64::from(days_in_month(self.year, m));
                (s, s + days * 86_400 - 1)
            }
            (None, _, _) => {
                let s = days_from_civil(y, 1, 1) * 86_400;
                (s, days_from_civil(y + 1, 1, 1) * 86_400 - 1)
            }
        }
    }

    /// Order by earliest possible instant, then by latest.
    pub fn cmp_start(&self, other: &DateTime) -> Ordering {
        self.bounds().cmp(&other.bounds())
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
        }
        if let Some(d) = self.day {
            write!(f, "-{d:02}")?;
        }
        if let Some(t) = self.time {
            write!(f, "T{:02}:{:02}:{:02}", t.hour, t.minute, t.second)?;
            if t.nanos != 0 {
                let frac = format!("{:09}", t.nanos);
                write!(f, ".{}", frac.trim_end_matches('0'))?;
            }
            match self.offset_minutes {
                Some(0) | None => f.write_str("Z")?,
                Some(o) => {
                    let sign = if o < 0 { '-' } else { '+' };
                    let o = o.unsigned_abs();
                    write!(f, "{sign}{:02}:{:02}", o / 60, o % 60)?;
                }
            }
        }
        Ok(())
    }
}

fn bad(what: &str, s: &str) -> String {
    format!("not a valid {what}: '{s}'")
}

/// Whether `year` is a leap year (proleptic Gregorian).
fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the given civil date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A byte cursor for the little grammars above.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s: s.as_bytes(), pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let b = self.peek().filter(u8::is_ascii_digit)?;
            v = v * 10 + u32::from(b - b'0');
            self.pos += 1;
        }
        Some(v)
    }

    fn time(&mut self) -> Option<Time> {
        let hour = self.digits(2)?;
        if hour > 23 || !self.eat(b':') {
            return None;
        }
        let minute = self.digits(2)?;
        if minute > 59 || !self.eat(b':') {
            return None;
        }
        let second = self.digits(2)?;
        if second > 60 {
            return None;
        }
        let mut nanos = 0u32;
        if self.eat(b'.') {
            let start = self.pos;
            let mut scale = 100_000_000u32;
            while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
                nanos += u32::from(b - b'0') * scale;
                scale /= 10;
                self.pos += 1;
            }
            if self.pos == start {
                return None;
            }
        }
        Some(Time { hour: hour as u8, minute: minute as u8, second: second as u8, nanos })
    }

    fn date_time(&mut self, allow_time: bool) -> Option<DateTime> {
        let year = self.digits(4)?;
        if year == 0 {
            return None;
        }
        let year = year as u16;
        let mut dt = DateTime { year, month: None, day: None, time: None, offset_minutes: None };
        if !self.eat(b'-') {
            return Some(dt);
        }
        let month = self.digits(2)? as u8;
        if !(1..=12).contains(&month) {
            return None;
        }
        dt.month = Some(month);
        if !self.eat(b'-') {
            return Some(dt);
        }
        let day = self.digits(2)? as u8;
        if day < 1 || day > days_in_month(year, month) {
            return None;
        }
        dt.day = Some(day);
        if !allow_time || self.peek() != Some(b'T') {
            return Some(dt);
        }
        let save = self.pos;
        self.pos += 1;
        let (Some(time), Some(offset)) = (self.time(), self.offset()) else {
            self.pos = save;
            return Some(dt);
        };
        dt.time = Some(time);
        dt.offset_minutes = Some(offset);
        Some(dt)
    }

    fn offset(&mut self) -> Option<i16> {
        if self.eat(b'Z') {
            return Some(0);
        }
        let sign: i16 = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let h = self.digits(2)?;
        if !self.eat(b':') {
            return None;
        }
        let m = self.digits(2)?;
        if m > 59 || h > 14 || (h == 14 && m != 0) {
            return None;
        }
        Some(sign * (h * 60 + m) as i16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_convert_to_dates_and_back() {
        assert_eq!(Date::from_unix_seconds(0), Date::new(1970, 1, 1));
        assert_eq!(Date::from_unix_seconds(951_782_400), Date::new(2000, 2, 29));
        assert_eq!(Date::from_unix_seconds(1_795_305_600 + 86_399), Date::new(2026, 11, 22));
        assert_eq!(Date::from_unix_seconds(-1), Date::new(1969, 12, 31));
        for days in (-700_000..2_900_000).step_by(997) {
            let date = Date::from_unix_seconds(days * 86_400).unwrap();
            assert_eq!(date.days_since_epoch(), days);
        }
        assert_eq!(Date::from_unix_seconds(i64::MAX / 2), None);
    }

    #[test]
    fn parses_fhir_forms() {
        for ok in [
            "2019",
            "2019-02",
            "2019-02-28",
            "2020-02-29",
            "2015-11-01T17:00:14-05:00",
            "2015-11-01T17:00:14.123Z",
            "2015-12-31T23:59:60+14:00",
        ] {
            assert!(DateTime::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "not a date",
            "0000",
            "19",
            "2019-2",
            "2019-13",
            "2019-02-29",
            "2019-02-30",
            "2019-01-01T10:00",
            "2019-01-01T10:00:00",
            "2019-01-01T25:00:00Z",
            "2019-01-01T10:00:00+15:00",
            "2019-01-01T10:00:00.Z",
            "2019-01-01 ",
            "2019-01-01T",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
        assert!(DateTime::parse_date("2019-01-01T10:00:00Z").is_err());
        assert!(DateTime::parse_instant("2019-01-01").is_err());
        assert!(DateTime::parse_instant("2019-01-01T10:00:00Z").is_ok());
        assert!(Time::parse("10:00:00.5").is_ok());
        assert!(Time::parse("10:00").is_err());
    }

    #[test]
    fn bounds_and_order() {
        let a = DateTime::parse("2015-11-01T17:00:14-05:00").unwrap();
        let b = DateTime::parse("2015-11-01T22:00:14Z").unwrap();
        assert_eq!(a.bounds(), b.bounds());
        let day = DateTime::parse("2015-11-01").unwrap();
        assert!(day.bounds().0 <= b.bounds().0 && b.bounds().1 <= day.bounds().1);
        let y = DateTime::parse("2016").unwrap();
        assert_eq!(y.bounds().1 + 1, DateTime::parse("2017").unwrap().bounds().0);
        assert_eq!(Date::new(1970, 1, 1).unwrap().days_since_epoch(), 0);
        assert_eq!(a.to_string(), "2015-11-01T17:00:14-05:00");
    }

    #[test]
    fn ages() {
        let born = Date::new(2000, 2, 29).unwrap();
        assert_eq!(born.years_until(Date::new(2001, 2, 28).unwrap()), Some(0));
        assert_eq!(born.years_until(Date::new(2001, 3, 1).unwrap()), Some(1));
        assert_eq!(born.years_until(Date::new(1999, 3, 1).unwrap()), None);
    }
}
