//! A secret string: zeroized on drop, redacted in `Debug`, no `Clone`.

use std::fmt;

use zeroize::Zeroizing;

/// A secret text value (a PEM private key or a bearer token).
///
/// Zeroized on drop, printed as `Secret([REDACTED])` by `Debug`, and deliberately not `Clone` (use
/// [`Secret::clone_secret`] when a copy is really needed). Read it with the loudly named
/// [`Secret::expose_secret`].
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Zeroizing<String>>) -> Self {
        Self(value.into())
    }

    /// The secret text.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// An explicit copy.
    #[must_use]
    pub fn clone_secret(&self) -> Self {
        Self(self.0.clone())
    }
}

impl From<Zeroizing<String>> for Secret {
    fn from(value: Zeroizing<String>) -> Self {
        Self(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(Zeroizing::new(value))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from("hunter2".to_owned());
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(s.expose_secret(), "hunter2");
        assert_eq!(s.clone_secret().expose_secret(), "hunter2");
    }
}
