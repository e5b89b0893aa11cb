//! The settings of the marketing functions.

use platform::config::{Section, Vars};

use crate::links::LinkKey;

/// At least this long: the key is all that makes a link unforgeable.
const MIN_LINK_KEY_CHARS: usize = 32;

/// `LINK_SIGNING_KEY`: signs the links in marketing mail ([`crate::links`]).
/// Without it nothing that mails or reads such links works (404).
#[derive(Debug, Clone, Default)]
pub struct MarketingConfig {
    pub link_key: Option<LinkKey>,
}

impl Section for MarketingConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        Self {
            link_key: vars
                .secret("LINK_SIGNING_KEY", MIN_LINK_KEY_CHARS)
                .map(LinkKey::new),
        }
    }
}
