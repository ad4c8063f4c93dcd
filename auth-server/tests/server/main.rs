//! auth-server over real HTTP: an actix server on a loopback port with the issuer mounted and
//! the auth-runtime validator wrapped around it, wallets that really sign.

#[cfg(feature = "postgres")]
mod pg;
mod support;

mod config;
mod dpop;
mod dpop_attacks;
mod grace;
#[cfg(feature = "postgres")]
mod instances;
mod keys;
mod login;
#[cfg(feature = "postgres")]
mod outage;
mod restart;
mod revocation;
mod sessions;
mod throttle;
#[cfg(feature = "postgres")]
mod tls;
mod wallet;
