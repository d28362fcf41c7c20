//! polylink's Rust library, exported to C and assembly through the functions in [`ffi`].
//!
//! The contract every export keeps (the README states it for C callers):
//! - Rust never keeps a pointer it was given beyond the call, and never frees one; the caller
//!   owns every buffer, and every buffer comes with its length.
//! - Fallible functions return a [`PlStatus`] and write their result through an out-parameter;
//!   on an error the out-parameter is left untouched. `pl_status_str` describes a status.
//! - No panic unwinds into C: each export runs its body inside [`ffi`]'s boundary, which turns
//!   a caught panic into `PL_STATUS_PANICKED` (or a documented neutral value).
//!
//! The safe Rust functions below hold the logic, so Rust tests call them without `unsafe`.

pub mod ffi;

pub use ffi::*;

/// Folds eight integers into one the way decimal digits are written: `sum8(1, 2, …, 8)` is
/// `12345678`. Each argument lands in its own digit, so a swapped or lost argument shows at once.
/// Arithmetic wraps, so no input can overflow.
#[allow(clippy::too_many_arguments)]
pub fn sum8(a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: i64, h: i64) -> i64 {
    [a, b, c, d, e, f, g, h]
        .into_iter()
        .fold(0i64, |acc, x| acc.wrapping_mul(10).wrapping_add(x))
}

/// A point with two 64-bit coordinates: 16 bytes, so the System V ABI passes and returns it in
/// two integer registers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlPoint {
    pub x: i64,
    pub y: i64,
}

/// Summary statistics of a list of integers: 40 bytes, too large for registers, so it is
/// returned through memory the caller provides.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlStats {
    pub count: u64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    pub mean: f64,
}

/// Statistics of `values`; all fields are zero for an empty list. The sum wraps.
pub fn stats(values: &[i64]) -> PlStats {
    let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
        return PlStats::default();
    };
    let sum = values.iter().fold(0i64, |acc, &v| acc.wrapping_add(v));
    PlStats {
        count: values.len() as u64,
        sum,
        min,
        max,
        mean: values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64,
    }
}

/// Why [`parse_i64`] refused its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Empty, or not an optionally signed run of decimal digits.
    Invalid,
    /// Digits that do not fit in an `i64`.
    Overflow,
}

/// Parses an optionally signed decimal integer, with no surrounding spaces.
pub fn parse_i64(text: &[u8]) -> Result<i64, ParseError> {
    use std::num::IntErrorKind;
    let text = std::str::from_utf8(text).map_err(|_| ParseError::Invalid)?;
    text.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => ParseError::Overflow,
        _ => ParseError::Invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum8_puts_each_argument_in_its_own_digit() {
        assert_eq!(sum8(1, 2, 3, 4, 5, 6, 7, 8), 12_345_678);
        assert_eq!(sum8(0, 0, 0, 0, 0, 0, 0, 9), 9);
        assert_eq!(sum8(9, 0, 0, 0, 0, 0, 0, 0), 90_000_000);
        assert_eq!(sum8(i64::MAX, i64::MAX, 0, 0, 0, 0, 0, 0), {
            i64::MAX
                .wrapping_mul(10_000_000)
                .wrapping_add(i64::MAX.wrapping_mul(1_000_000))
        });
    }

    #[test]
    fn stats_of_a_list_and_of_nothing() {
        let s = stats(&[4, -2, 10, 0]);
        assert_eq!((s.count, s.sum, s.min, s.max), (4, 12, -2, 10));
        assert_eq!(s.mean, 3.0);
        assert_eq!(stats(&[]), PlStats::default());
    }

    #[test]
    fn parse_i64_accepts_signed_decimals_and_names_its_faults() {
        assert_eq!(parse_i64(b"-42"), Ok(-42));
        assert_eq!(parse_i64(b"+7"), Ok(7));
        assert_eq!(parse_i64(b"9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), Err(ParseError::Overflow));
        assert_eq!(parse_i64(b""), Err(ParseError::Invalid));
        assert_eq!(parse_i64(b"12a"), Err(ParseError::Invalid));
        assert_eq!(parse_i64(b" 1"), Err(ParseError::Invalid));
        assert_eq!(parse_i64(&[0xff]), Err(ParseError::Invalid));
    }
}
