//! PEM framing: split a text into blocks and encode DER as PEM, as Go's `encoding/pem` does
//! (64-column base64, LF line endings).

use der::pem::LineEnding;
use zeroize::Zeroizing;

use crate::Error;

/// One decoded PEM block.
pub(crate) struct Block {
    pub(crate) label: String,
    pub(crate) der: Zeroizing<Vec<u8>>,
}

/// Every PEM block in `input`, in order. Text between blocks is ignored (openssl writes
/// human-readable text before certificates); a block that does not decode is an error, and so
/// is a legacy encrypted block (`Proc-Type: 4,ENCRYPTED`).
pub(crate) fn blocks(input: &str) -> Result<Vec<Block>, Error> {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            return Err(Error::Pem(der::pem::Error::PreEncapsulationBoundary));
        };
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = rest[start..].find(&end_marker) else {
            return Err(Error::Pem(der::pem::Error::PostEncapsulationBoundary));
        };
        let block = &rest[start..start + end + end_marker.len()];
        if block.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(Error::EncryptedKey);
        }
        let (decoded_label, der) = der::pem::decode_vec(block.as_bytes()).map_err(Error::Pem)?;
        out.push(Block {
            label: decoded_label.to_owned(),
            der: Zeroizing::new(der),
        });
        rest = &rest[start + end + end_marker.len()..];
    }
    Ok(out)
}

/// Encodes `der` as a PEM block with `label`.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    // Encoding into a String cannot fail for a valid label; every label used here is a
    // constant from RFC 7468, so an error would be a bug in this crate, not bad input.
    der::pem::encode_string(label, LineEnding::LF, der).unwrap_or_default()
}
