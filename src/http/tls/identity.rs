//! Who a verified client certificate says the client is: its subject common name and the
//! SHA-256 fingerprint of the whole certificate, and the role `[tls.client_roles]` gives it.
//!
//! The subject CN is read by a small DER walker rather than a full X.509 parser: the
//! certificate has already been parsed and verified by webpki during the handshake, only
//! one field is needed, and an X.509 crate would add a dozen dependencies to the build.
//! The walker is still written for hostile bytes: every length is checked against what is
//! left, nothing is indexed without a bound, and anything it does not understand yields
//! `None` (the fingerprint, which needs no parsing, still identifies the client).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::config::ClientRole;

/// The client certificate of the connection a request came on, verified against
/// `tls.client_ca_file`. Inserted into every request of that connection as a request
/// extension (`request.extensions().get::<ClientIdentity>()`); absent on plain HTTP, and on
/// TLS connections whose client sent no certificate (`client_auth = "optional"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The last common name (OID 2.5.4.3) in the certificate's subject, when it has one in
    /// a UTF-8, printable or IA5 string.
    pub subject_cn: Option<String>,
    /// SHA-256 of the certificate's DER, as 64 lower-case hex digits (what `openssl x509
    /// -noout -fingerprint -sha256` prints, without colons).
    pub sha256_fingerprint: String,
    /// The role `[tls.client_roles]` gives this certificate: by `sha256:<fingerprint>`
    /// first, then by subject CN; `None` when neither is listed.
    pub role: Option<ClientRole>,
}

impl ClientIdentity {
    /// The identity of the DER certificate `der`, with its role from `roles`.
    pub fn from_certificate(der: &[u8], roles: &BTreeMap<String, ClientRole>) -> ClientIdentity {
        let sha256_fingerprint = sha256_hex(der);
        let subject_cn = subject_common_name(der);
        let by_fingerprint = roles.get(&format!("sha256:{sha256_fingerprint}"));
        let by_cn = subject_cn.as_ref().and_then(|cn| roles.get(cn));
        ClientIdentity {
            role: by_fingerprint.or(by_cn).copied(),
            subject_cn,
            sha256_fingerprint,
        }
    }
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_OID: u8 = 0x06;
const TAG_VERSION: u8 = 0xA0;
const TAG_UTF8_STRING: u8 = 0x0C;
const TAG_PRINTABLE_STRING: u8 = 0x13;
const TAG_IA5_STRING: u8 = 0x16;
/// OID 2.5.4.3 (id-at-commonName), DER-encoded content bytes.
const OID_COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];

/// The last subject CN of the DER certificate `der`, or `None`.
///
/// Certificate = SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity, subject, ... }, ... } (RFC 5280, 4.1).
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    let (certificate, _) = expect_tlv(der, TAG_SEQUENCE)?;
    let (mut tbs, _) = expect_tlv(certificate, TAG_SEQUENCE)?;
    if tbs.first() == Some(&TAG_VERSION) {
        tbs = read_tlv(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity.
    for _ in 0..4 {
        tbs = read_tlv(tbs)?.2;
    }
    let (mut names, _) = expect_tlv(tbs, TAG_SEQUENCE)?;
    let mut common_name = None;
    while !names.is_empty() {
        let (set, rest) = expect_tlv(names, TAG_SET)?;
        names = rest;
        let mut attributes = set;
        while !attributes.is_empty() {
            let (attribute, rest) = expect_tlv(attributes, TAG_SEQUENCE)?;
            attributes = rest;
            if let Some(value) = common_name_value(attribute) {
                common_name = Some(value);
            }
        }
    }
    common_name
}

/// The value of an AttributeTypeAndValue when its type is the common name.
fn common_name_value(attribute: &[u8]) -> Option<String> {
    let (oid, value) = expect_tlv(attribute, TAG_OID)?;
    if oid != OID_COMMON_NAME {
        return None;
    }
    let (tag, text, _) = read_tlv(value)?;
    match tag {
        TAG_UTF8_STRING | TAG_PRINTABLE_STRING | TAG_IA5_STRING => {
            std::str::from_utf8(text).ok().map(str::to_string)
        }
        _ => None,
    }
}

/// The content of a TLV with tag `tag` at the start of `input`, and what follows it.
fn expect_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, content, rest) = read_tlv(input)?;
    (found == tag).then_some((content, rest))
}

/// One DER tag-length-value: (tag, content, rest). Single-byte tags only (all X.509 uses
/// here); definite lengths of up to four bytes; `None` when the input is shorter than the
/// length says.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, mut after_length) = after_tag.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || after_length.len() < count {
            return None;
        }
        let (digits, rest) = after_length.split_at(count);
        after_length = rest;
        digits
            .iter()
            .fold(0usize, |length, &digit| (length << 8) | usize::from(digit))
    };
    if length > after_length.len() {
        return None;
    }
    let (content, rest) = after_length.split_at(length);
    Some((tag, content, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate-shaped DER with the given subject RDNs (only the structure the walker
    /// reads; webpki is what checks real certificates).
    fn certificate_with_subject(names: &[(&[u8], u8, &str)]) -> Vec<u8> {
        let tlv = |tag: u8, content: &[u8]| {
            let mut out = vec![tag];
            if content.len() < 0x80 {
                out.push(content.len() as u8);
            } else {
                out.push(0x82);
                out.extend_from_slice(&(content.len() as u16).to_be_bytes());
            }
            out.extend_from_slice(content);
            out
        };
        let mut rdns = Vec::new();
        for (oid, tag, value) in names {
            let attribute = [tlv(TAG_OID, oid), tlv(*tag, value.as_bytes())].concat();
            rdns.extend(tlv(TAG_SET, &tlv(TAG_SEQUENCE, &attribute)));
        }
        let tbs = [
            tlv(TAG_VERSION, &tlv(0x02, &[2])),
            tlv(0x02, &[1]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &[]),
            tlv(TAG_SEQUENCE, &rdns),
        ]
        .concat();
        tlv(TAG_SEQUENCE, &tlv(TAG_SEQUENCE, &tbs))
    }

    const OID_ORGANISATION: &[u8] = &[0x55, 0x04, 0x0A];

    #[test]
    fn finds_the_last_common_name_of_the_subject() {
        let der = certificate_with_subject(&[
            (OID_ORGANISATION, TAG_UTF8_STRING, "Example"),
            (&OID_COMMON_NAME, TAG_PRINTABLE_STRING, "first"),
            (&OID_COMMON_NAME, TAG_UTF8_STRING, "shipper-1"),
        ]);
        assert_eq!(subject_common_name(&der).as_deref(), Some("shipper-1"));
    }

    #[test]
    fn a_subject_without_common_name_has_none() {
        let der = certificate_with_subject(&[(OID_ORGANISATION, TAG_UTF8_STRING, "Example")]);
        assert_eq!(subject_common_name(&der), None);
    }

    #[test]
    fn truncated_or_garbled_input_yields_none_without_panicking() {
        let der = certificate_with_subject(&[(&OID_COMMON_NAME, TAG_UTF8_STRING, "shipper-1")]);
        for cut in 0..der.len() {
            let _ = subject_common_name(&der[..cut]);
        }
        for index in 0..der.len() {
            let mut flipped = der.clone();
            flipped[index] ^= 0xff;
            let _ = subject_common_name(&flipped);
        }
        assert_eq!(
            subject_common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(subject_common_name(&[]), None);
    }

    #[test]
    fn role_by_fingerprint_wins_over_role_by_common_name() {
        let der = certificate_with_subject(&[(&OID_COMMON_NAME, TAG_UTF8_STRING, "shipper-1")]);
        let fingerprint = sha256_hex(&der);
        let mut roles = BTreeMap::new();
        roles.insert("shipper-1".to_string(), ClientRole::Ingest);
        let identity = ClientIdentity::from_certificate(&der, &roles);
        assert_eq!(identity.role, Some(ClientRole::Ingest));
        assert_eq!(identity.sha256_fingerprint.len(), 64);
        roles.insert(format!("sha256:{fingerprint}"), ClientRole::Admin);
        let identity = ClientIdentity::from_certificate(&der, &roles);
        assert_eq!(identity.role, Some(ClientRole::Admin));
        assert_eq!(identity.subject_cn.as_deref(), Some("shipper-1"));
    }
}
