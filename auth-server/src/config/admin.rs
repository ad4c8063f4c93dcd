//! The bootstrap admin of password login.

use std::fmt;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use auth_runtime::{ConfigError, ConfigErrorKind};

/// The bootstrap admin of password login: the login e-mail and an argon2id hash of the
/// password (a PHC string). The password itself is never kept, and `Debug` shows no hash.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAccount {
    email: String,
    password_hash: String,
}

impl AdminAccount {
    /// The account of `email`, with `password` hashed unless it is an argon2id PHC string
    /// already.
    pub(super) fn new(email: &str, password: &str) -> Result<AdminAccount, ConfigError> {
        Ok(AdminAccount {
            email: email.to_owned(),
            password_hash: admin_password_hash(password)?,
        })
    }

    /// The login e-mail.
    pub fn email(&self) -> &str {
        &self.email
    }

    /// The argon2id PHC string of the password.
    pub fn password_hash(&self) -> &str {
        &self.password_hash
    }

    /// Whether `password` is the admin's password (argon2id verification).
    pub fn verifies(&self, password: &str) -> bool {
        PasswordHash::new(&self.password_hash)
            .ok()
            .is_some_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
    }
}

impl fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAccount")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// The admin password as an argon2id PHC string: kept as given when it already is one,
/// hashed otherwise.
fn admin_password_hash(password: &str) -> Result<String, ConfigError> {
    if password.starts_with('$') {
        let parsed = PasswordHash::new(password).map_err(|err| {
            ConfigError::new(
                ConfigErrorKind::Invalid,
                format!(
                    "server_auth.admin_password looks like a PHC hash but does not parse ({err}); \
                 give an argon2id PHC string or the plain password"
                ),
            )
        })?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(ConfigError::new(
                ConfigErrorKind::Invalid,
                format!(
                    "server_auth.admin_password is a `{}` hash; only argon2id hashes are accepted \
                 (or give the plain password, hashed at start-up)",
                    parsed.algorithm.as_str()
                ),
            ));
        }
        return Ok(password.to_owned());
    }
    let salt = argon2::password_hash::generate_salt();
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| {
            ConfigError::new(
                ConfigErrorKind::Invalid,
                format!("cannot hash server_auth.admin_password: {err}"),
            )
        })
}
