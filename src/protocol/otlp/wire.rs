//! The protobuf wire format, just what OTLP needs: reading varints, fixed
//! 32/64-bit words and length-delimited fields (borrowed from the body),
//! skipping unknown fields, and writing the few fields of the responses.
//!
//! Hand-written instead of generated (prost, opentelemetry-proto): it needs
//! no protoc at build time, adds no dependency, and lets strings and bytes
//! borrow from the request body instead of being copied into `String`s.

use super::error::OtlpError;

/// A protobuf wire type (the low three bits of a field key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    LengthDelimited,
    Fixed32,
}

/// Reads fields from one message's bytes. `base_offset` is where the
/// message starts in the whole body, so errors name an absolute byte.
pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    base_offset: usize,
}

/// A varint has at most 10 bytes (64 bits, 7 per byte).
const VARINT_BYTES_MAX: usize = 10;

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], base_offset: usize) -> Reader<'a> {
        Reader {
            bytes,
            position: 0,
            base_offset,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.position >= self.bytes.len()
    }

    /// The body offset of the next byte, for errors and nested readers.
    pub fn offset(&self) -> usize {
        self.base_offset + self.position
    }

    pub fn error(&self, what: &'static str) -> OtlpError {
        OtlpError::Protobuf {
            what,
            offset: self.offset(),
        }
    }

    pub fn varint(&mut self) -> Result<u64, OtlpError> {
        let mut value = 0u64;
        for index in 0..VARINT_BYTES_MAX {
            let Some(&byte) = self.bytes.get(self.position) else {
                return Err(self.error("a varint is cut off"));
            };
            self.position += 1;
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(self.error("a varint is longer than 10 bytes"))
    }

    fn take(&mut self, count: usize, what: &'static str) -> Result<&'a [u8], OtlpError> {
        let end = self
            .position
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.error(what))?;
        let taken = &self.bytes[self.position..end];
        self.position = end;
        Ok(taken)
    }

    pub fn fixed64(&mut self) -> Result<u64, OtlpError> {
        let bytes = self.take(8, "a 64-bit field is cut off")?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("took 8 bytes")))
    }

    pub fn fixed32(&mut self) -> Result<u32, OtlpError> {
        let bytes = self.take(4, "a 32-bit field is cut off")?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("took 4 bytes")))
    }

    /// A length-delimited field's bytes, borrowed from the body.
    pub fn bytes(&mut self) -> Result<&'a [u8], OtlpError> {
        let length = self.varint()?;
        let length = usize::try_from(length).map_err(|_| self.error("a length is too large"))?;
        self.take(length, "a length-delimited field runs past its message")
    }

    /// A length-delimited field as a reader over its bytes.
    pub fn message(&mut self) -> Result<Reader<'a>, OtlpError> {
        let bytes = self.bytes()?;
        let base_offset = self.offset() - bytes.len();
        Ok(Reader::new(bytes, base_offset))
    }

    /// A string field: proto3 strings must be UTF-8.
    pub fn string(&mut self) -> Result<&'a str, OtlpError> {
        let start = self.offset();
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes).map_err(|_| OtlpError::Protobuf {
            what: "a string field is not valid UTF-8",
            offset: start,
        })
    }

    /// The next field's number and wire type.
    pub fn key(&mut self) -> Result<(u32, WireType), OtlpError> {
        let key = self.varint()?;
        let wire_type = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::LengthDelimited,
            5 => WireType::Fixed32,
            _ => return Err(self.error("a field has a group or unknown wire type")),
        };
        let field =
            u32::try_from(key >> 3).map_err(|_| self.error("a field number is too large"))?;
        if field == 0 {
            return Err(self.error("a field has number 0"));
        }
        Ok((field, wire_type))
    }

    /// Skips a field this decoder does not use: protobuf readers ignore
    /// unknown fields, so newer senders stay compatible.
    pub fn skip(&mut self, wire_type: WireType) -> Result<(), OtlpError> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed64().map(drop),
            WireType::LengthDelimited => self.bytes().map(drop),
            WireType::Fixed32 => self.fixed32().map(drop),
        }
    }

    /// Checks that a known field came with the wire type its schema says.
    pub fn expect(&self, actual: WireType, expected: WireType) -> Result<(), OtlpError> {
        if actual == expected {
            Ok(())
        } else {
            Err(self.error("a known field has the wrong wire type"))
        }
    }
}

/// Appends a varint.
pub fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a varint field (`field` number, wire type 0).
pub fn write_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    write_varint(out, u64::from(field) << 3);
    write_varint(out, value);
}

/// Appends a length-delimited field.
pub fn write_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    write_varint(out, (u64::from(field) << 3) | 2);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_their_edges() {
        for value in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            let mut reader = Reader::new(&out, 0);
            assert_eq!(reader.varint().unwrap(), value);
            assert!(reader.is_empty());
        }
    }

    #[test]
    fn truncated_and_overlong_input_is_an_error_not_a_panic() {
        let mut reader = Reader::new(&[0x80, 0x80], 0);
        assert!(matches!(reader.varint(), Err(OtlpError::Protobuf { .. })));
        let mut reader = Reader::new(&[0xff; 11], 0);
        assert!(reader.varint().is_err());
        // A length of 5 with only 2 bytes behind it.
        let mut reader = Reader::new(&[0x05, 1, 2], 0);
        assert!(reader.bytes().is_err());
        // A length near u64::MAX must not overflow the position.
        let mut out = Vec::new();
        write_varint(&mut out, u64::MAX);
        assert!(Reader::new(&out, 0).bytes().is_err());
        // Wire type 3 (start group) is refused.
        assert!(Reader::new(&[0x0b], 0).key().is_err());
    }
}
