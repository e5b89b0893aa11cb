//! Money as integer minor units (fen, cents) with its currency: no floating point
//! anywhere a price, a discount or a provider's amount passes.

use platform::error::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// The currencies the catalogue sells in: renminbi for Alipay and WeChat Pay, and
/// US dollars (with renminbi) for Stripe. Both have 100 minor units.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Currency {
    #[serde(rename = "CNY")]
    Cny,
    #[serde(rename = "USD")]
    Usd,
}

impl Currency {
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Cny => "CNY",
            Currency::Usd => "USD",
        }
    }

    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "CNY" => Ok(Currency::Cny),
            "USD" => Ok(Currency::Usd),
            _ => Err(Error::invalid("currency", "currency must be CNY or USD")),
        }
    }
}

/// The largest amount anything costs: 1,000,000.00 in either currency (the
/// database holds the same bound).
pub const MAX_AMOUNT: i64 = 100_000_000;

/// A positive amount in minor units (fen, cents), at most [`MAX_AMOUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Amount(#[schemars(range(min = 1, max = 100_000_000))] i64);

impl Amount {
    pub fn new(minor: i64) -> Result<Self> {
        if (1..=MAX_AMOUNT).contains(&minor) {
            Ok(Amount(minor))
        } else {
            Err(Error::invalid(
                "amount",
                format!("amount must be 1 to {MAX_AMOUNT} minor units (fen or cents)"),
            ))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }

    /// The amount as a decimal of whole units with two places (`"12.30"`), as Alipay
    /// writes amounts.
    pub fn to_decimal(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// Reads a decimal of whole units exactly (`"12.3"`, `"12.30"`, `"12"` → 1230
    /// fen), as a provider's notification states an amount: digits, and at most two
    /// after the point. Anything else, including a third decimal, is not an amount.
    pub fn parse_decimal(raw: &str) -> Option<Self> {
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 9 || !digits(whole) || fraction.len() > 2 {
            return None;
        }
        if !digits(fraction) || (raw.contains('.') && fraction.is_empty()) {
            return None;
        }
        let cents = match fraction.len() {
            0 => 0,
            1 => fraction.parse::<i64>().ok()? * 10,
            _ => fraction.parse::<i64>().ok()?,
        };
        Amount::new(whole.parse::<i64>().ok()? * 100 + cents).ok()
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let minor = i64::deserialize(deserializer)?;
        Amount::new(minor).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_read_exactly_or_not_at_all() {
        let cases = [
            ("12.30", Some(1230)),
            ("12.3", Some(1230)),
            ("12", Some(1200)),
            ("0.01", Some(1)),
            ("1000000.00", Some(MAX_AMOUNT)),
        ];
        for (raw, minor) in cases {
            assert_eq!(
                Amount::parse_decimal(raw).map(Amount::minor),
                minor,
                "{raw}"
            );
        }
        for bad in [
            "",
            ".5",
            "12.",
            "12.345",
            "-1.00",
            "+1",
            "1e3",
            "0.00",
            "1 000",
            "１２",
            "12.3a",
            "1000000.01",
            "99999999999",
        ] {
            assert_eq!(Amount::parse_decimal(bad), None, "{bad}");
        }
        for minor in [1, 9, 10, 99, 100, 101, 1230, MAX_AMOUNT] {
            let amount = Amount::new(minor).unwrap();
            assert_eq!(Amount::parse_decimal(&amount.to_decimal()), Some(amount));
        }
        assert_eq!(Amount::new(1230).unwrap().to_decimal(), "12.30");
        assert_eq!(Amount::new(5).unwrap().to_decimal(), "0.05");
    }

    #[test]
    fn amounts_and_currencies_parse_at_the_edge() {
        let amount: Amount = serde_json::from_str("9900").unwrap();
        assert_eq!(amount.minor(), 9900);
        for bad in ["0", "-5", "99.5", "100000001", "\"100\""] {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad}");
        }
        assert_eq!(
            serde_json::from_str::<Currency>("\"USD\"").unwrap(),
            Currency::Usd
        );
        assert!(serde_json::from_str::<Currency>("\"EUR\"").is_err());
        assert!(Currency::parse("cny").is_err());
    }
}
