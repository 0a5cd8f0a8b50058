//! Detached JWS (RFC 7515 Appendix F) with HS256, as the bootstrap signer signs the
//! `cluster-info` kubeconfig: the key is the token secret (zero-padded to 32 bytes), the
//! protected header `{"alg":"HS256","kid":"<token-id>"}`, and the payload left out of the
//! compact form (`header..signature`).
//!
//! Mirrors `k8s.io/cluster-bootstrap/token/jws/jws.go` (`ComputeDetachedSignature`,
//! `DetachedTokenIsValid`); the tests are that file's vectors.

use aws_lc_rs::hmac;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64URL};

/// The detached JWS of `content` under the token `id`.`secret`.
pub fn detached_signature(content: &str, id: &str, secret: &str) -> String {
    let header = B64URL.encode(format!(r#"{{"alg":"HS256","kid":"{id}"}}"#));
    let payload = B64URL.encode(content);
    let tag = hmac::sign(&key(secret), format!("{header}.{payload}").as_bytes());
    format!("{header}..{}", B64URL.encode(tag.as_ref()))
}

/// Whether `jws` is the detached signature of `content` under `id`.`secret`; the MAC is
/// compared in constant time.
pub fn is_valid(jws: &str, content: &str, id: &str, secret: &str) -> bool {
    let Some((header, tag)) = jws.split_once("..") else {
        return false;
    };
    let expected_header = B64URL.encode(format!(r#"{{"alg":"HS256","kid":"{id}"}}"#));
    let Ok(tag) = B64URL.decode(tag) else {
        return false;
    };
    header == expected_header
        && hmac::verify(
            &key(secret),
            format!("{header}.{}", B64URL.encode(content)).as_bytes(),
            &tag,
        )
        .is_ok()
}

/// go-jose wants HS256 keys of 32 bytes at least; kubeadm pads the secret with zeros.
fn key(secret: &str) -> hmac::Key {
    let mut bytes = secret.as_bytes().to_vec();
    if bytes.len() < 32 {
        bytes.resize(32, 0);
    }
    hmac::Key::new(hmac::HMAC_SHA256, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // k8s.io/cluster-bootstrap/token/jws/jws_test.go
    const CONTENT: &str = "Hello from the other side. I must have called a thousand times.";
    const SECRET: &str = "my voice is my passcode";
    const ID: &str = "joshua";

    #[test]
    fn kubernetes_test_vectors() {
        assert_eq!(
            detached_signature(CONTENT, ID, SECRET),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8"
        );
        assert_eq!(
            detached_signature("", ID, SECRET),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk"
        );
        assert_eq!(
            detached_signature(CONTENT, ID, ""),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..UfkqvDGiIFxrMnFseDj9LYJOLNrvjW8aHhF71mvvAs8"
        );
    }

    #[test]
    fn validity() {
        let sig =
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8";
        assert!(is_valid(sig, CONTENT, ID, SECRET));
        assert!(!is_valid(&format!("{sig}foo"), CONTENT, ID, SECRET));
        assert!(!is_valid(sig, "tampered", ID, SECRET));
        assert!(!is_valid(sig, CONTENT, "other", SECRET));
        assert!(!is_valid(sig, CONTENT, ID, "wrong"));
        assert!(!is_valid("no-dots", CONTENT, ID, SECRET));
    }
}
