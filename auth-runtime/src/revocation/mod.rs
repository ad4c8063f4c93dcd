//! Revoked tokens: the issuer's list of revoked `jti`s, where it comes from, and how it is
//! kept current.

mod entries;
mod list;
mod source;

pub use list::RevocationList;
#[cfg(feature = "testing")]
pub(crate) use source::REVOCATION_PATH;
pub use source::{
    HttpRevocationSource, RevocationFetchError, RevocationPage, RevocationSource, RevokedToken,
};
