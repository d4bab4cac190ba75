//! Decodes an OTLP/JSON `ExportLogsServiceRequest` (OTLP specification,
//! "JSON Protobuf Encoding") into the borrowed model: proto3's JSON mapping
//! with lowerCamelCase names (the original snake_case names are accepted
//! too, as proto3 JSON parsers do), 64-bit integers as strings or numbers,
//! enums as integers (or their names), trace and span ids as hex (OTLP's
//! exception to proto3's base64), `null` as the default, unknown fields
//! ignored. Strings without escapes borrow from the body.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::error::{OtlpError, Result};
use super::model::{
    id_from_bytes, AnyValue, ExportRequest, KeyValue, LogRecord, ResourceLogs, ScopeLogs,
    RECORDS_PER_REQUEST_MAX,
};

pub fn decode_request(body: &[u8]) -> Result<ExportRequest<'_>> {
    RECORDS_DECODED.with(|count| count.set(0));
    let request: std::result::Result<JsonRequest<'_>, _> = serde_json::from_slice(body);
    let over_limit = RECORDS_DECODED.with(|count| count.get()) > RECORDS_PER_REQUEST_MAX;
    match request {
        Ok(request) => request.into_model(),
        Err(_) if over_limit => Err(OtlpError::TooManyRecords {
            limit: RECORDS_PER_REQUEST_MAX,
        }),
        Err(error) => Err(OtlpError::Json(error.to_string())),
    }
}

thread_local! {
    /// Log records decoded so far by this thread's current `decode_request`:
    /// counted while decoding, because `{}` is 3 bytes of JSON but ~200 in
    /// memory. (serde's derive has no way to pass a counter down; decoding
    /// is synchronous, so a thread-local is one request's.)
    static RECORDS_DECODED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// `logRecords`: a list that stops decoding past `RECORDS_PER_REQUEST_MAX`
/// records in the whole request.
#[derive(Default)]
struct BoundedRecords<'a>(Vec<JsonLogRecord<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for BoundedRecords<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct RecordsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for RecordsVisitor<'a> {
            type Value = BoundedRecords<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of log records")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut records = Vec::new();
                while let Some(record) = seq.next_element::<JsonLogRecord<'a>>()? {
                    let count = RECORDS_DECODED.with(|count| {
                        count.set(count.get() + 1);
                        count.get()
                    });
                    if count > RECORDS_PER_REQUEST_MAX {
                        return Err(de::Error::custom("too many log records"));
                    }
                    records.push(record);
                }
                Ok(BoundedRecords(records))
            }
        }
        deserializer.deserialize_seq(RecordsVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct JsonRequest<'a> {
    #[serde(borrow, default, rename = "resourceLogs", alias = "resource_logs")]
    resource_logs: Nullable<Vec<JsonResourceLogs<'a>>>,
}

#[derive(Deserialize)]
struct JsonResourceLogs<'a> {
    #[serde(borrow, default)]
    resource: Nullable<JsonAttributes<'a>>,
    #[serde(borrow, default, rename = "scopeLogs", alias = "scope_logs")]
    scope_logs: Nullable<Vec<JsonScopeLogs<'a>>>,
}

#[derive(Deserialize, Default)]
struct JsonAttributes<'a> {
    #[serde(borrow, default)]
    attributes: Nullable<Vec<JsonKeyValue<'a>>>,
}

#[derive(Deserialize)]
struct JsonScopeLogs<'a> {
    #[serde(borrow, default)]
    scope: Nullable<JsonScope<'a>>,
    #[serde(borrow, default, rename = "logRecords", alias = "log_records")]
    log_records: Nullable<BoundedRecords<'a>>,
}

#[derive(Deserialize, Default)]
struct JsonScope<'a> {
    #[serde(borrow, default)]
    name: Nullable<CowStr<'a>>,
    #[serde(borrow, default)]
    version: Nullable<CowStr<'a>>,
    #[serde(borrow, default)]
    attributes: Nullable<Vec<JsonKeyValue<'a>>>,
}

#[derive(Deserialize)]
struct JsonLogRecord<'a> {
    #[serde(default, rename = "timeUnixNano", alias = "time_unix_nano")]
    time_unix_nano: Nullable<U64>,
    #[serde(
        default,
        rename = "observedTimeUnixNano",
        alias = "observed_time_unix_nano"
    )]
    observed_time_unix_nano: Nullable<U64>,
    #[serde(default, rename = "severityNumber", alias = "severity_number")]
    severity_number: Nullable<Severity>,
    #[serde(borrow, default, rename = "severityText", alias = "severity_text")]
    severity_text: Nullable<CowStr<'a>>,
    #[serde(borrow, default)]
    body: Nullable<JsonAnyValue<'a>>,
    #[serde(borrow, default)]
    attributes: Nullable<Vec<JsonKeyValue<'a>>>,
    #[serde(default)]
    flags: Nullable<U64>,
    #[serde(borrow, default, rename = "traceId", alias = "trace_id")]
    trace_id: Nullable<CowStr<'a>>,
    #[serde(borrow, default, rename = "spanId", alias = "span_id")]
    span_id: Nullable<CowStr<'a>>,
    #[serde(borrow, default, rename = "eventName", alias = "event_name")]
    event_name: Nullable<CowStr<'a>>,
}

#[derive(Deserialize)]
struct JsonKeyValue<'a> {
    #[serde(borrow, default)]
    key: Nullable<CowStr<'a>>,
    #[serde(borrow, default)]
    value: Nullable<JsonAnyValue<'a>>,
}

/// proto3 JSON reads `null` as the field's default.
struct Nullable<T>(T);

impl<T: Default> Default for Nullable<T> {
    fn default() -> Self {
        Nullable(T::default())
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        Ok(Nullable(
            Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
        ))
    }
}

/// A string that borrows from the body unless it had escapes.
#[derive(Default)]
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct CowVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for CowVisitor<'a> {
            type Value = CowStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(CowVisitor(std::marker::PhantomData))
    }
}

/// A 64-bit integer as proto3 JSON writes it (a decimal string) or as
/// lenient writers do (a number).
#[derive(Default, Clone, Copy)]
struct U64(u64);

/// A signed 64-bit integer, likewise.
struct I64(i64);

macro_rules! integer_visitor {
    ($name:ident, $wrapper:ident, $int:ty) => {
        impl<'de> Deserialize<'de> for $wrapper {
            fn deserialize<D: Deserializer<'de>>(
                deserializer: D,
            ) -> std::result::Result<Self, D::Error> {
                struct $name;
                impl<'de> Visitor<'de> for $name {
                    type Value = $wrapper;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("an integer or a string of decimal digits")
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<$wrapper, E> {
                        <$int>::try_from(v)
                            .map($wrapper)
                            .map_err(|_| E::custom("integer out of range"))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<$wrapper, E> {
                        <$int>::try_from(v)
                            .map($wrapper)
                            .map_err(|_| E::custom("integer out of range"))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<$wrapper, E> {
                        if v.fract() == 0.0 && v >= <$int>::MIN as f64 && v <= <$int>::MAX as f64 {
                            Ok($wrapper(v as $int))
                        } else {
                            Err(E::custom(format!("{v} is not an integer")))
                        }
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<$wrapper, E> {
                        v.parse::<$int>()
                            .map($wrapper)
                            .map_err(|_| E::custom(format!("{v:?} is not a decimal integer")))
                    }
                }
                deserializer.deserialize_any($name)
            }
        }
    };
}

integer_visitor!(U64Visitor, U64, u64);
integer_visitor!(I64Visitor, I64, i64);

/// `SeverityNumber`: an integer, or proto3 JSON's enum name
/// (`SEVERITY_NUMBER_WARN2`).
#[derive(Default)]
struct Severity(i32);

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct SeverityVisitor;
        impl<'de> Visitor<'de> for SeverityVisitor {
            type Value = Severity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a severity number or SEVERITY_NUMBER_* name")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Severity, E> {
                Ok(Severity(i32::try_from(v).unwrap_or(0)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Severity, E> {
                Ok(Severity(i32::try_from(v).unwrap_or(0)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Severity, E> {
                severity_from_name(v)
                    .map(Severity)
                    .ok_or_else(|| E::custom(format!("{v:?} is not a SeverityNumber name")))
            }
        }
        deserializer.deserialize_any(SeverityVisitor)
    }
}

fn severity_from_name(name: &str) -> Option<i32> {
    let short = name.strip_prefix("SEVERITY_NUMBER_")?;
    if short == "UNSPECIFIED" {
        return Some(0);
    }
    let (base, step) = match short.as_bytes().last() {
        Some(digit @ b'2'..=b'4') => (&short[..short.len() - 1], i32::from(digit - b'1')),
        _ => (short, 0),
    };
    let first = match base {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" => 13,
        "ERROR" => 17,
        "FATAL" => 21,
        _ => return None,
    };
    Some(first + step)
}

/// `AnyValue` in JSON: an object with one of `stringValue`, `boolValue`,
/// `intValue`, `doubleValue`, `bytesValue`, `arrayValue`, `kvlistValue`
/// (or their snake_case names); `{}` is the empty value.
struct JsonAnyValue<'a>(AnyValue<'a>);

impl Default for JsonAnyValue<'_> {
    fn default() -> Self {
        JsonAnyValue(AnyValue::Empty)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonAnyValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(AnyValueVisitor(std::marker::PhantomData))
    }
}

struct AnyValueVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for AnyValueVisitor<'a> {
    type Value = JsonAnyValue<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AnyValue object such as {\"stringValue\":\"...\"}")
    }

    fn visit_map<M: MapAccess<'de>>(
        self,
        mut map: M,
    ) -> std::result::Result<Self::Value, M::Error> {
        let mut value = AnyValue::Empty;
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            value = match key.0.as_ref() {
                "stringValue" | "string_value" => {
                    AnyValue::Str(map.next_value::<Nullable<CowStr<'a>>>()?.0 .0)
                }
                "boolValue" | "bool_value" => AnyValue::Bool(map.next_value::<Nullable<bool>>()?.0),
                "intValue" | "int_value" => {
                    AnyValue::Int(map.next_value::<Option<I64>>()?.map_or(0, |v| v.0))
                }
                "doubleValue" | "double_value" => AnyValue::Double(map.next_value::<Double>()?.0),
                "bytesValue" | "bytes_value" => {
                    AnyValue::Base64(map.next_value::<Nullable<CowStr<'a>>>()?.0 .0)
                }
                "arrayValue" | "array_value" => {
                    let list = map.next_value::<Nullable<JsonValueList<'a, JsonAnyValue<'a>>>>()?;
                    AnyValue::Array(list.0.values.0.into_iter().map(|v| v.0).collect())
                }
                "kvlistValue" | "kvlist_value" => {
                    let list = map.next_value::<Nullable<JsonValueList<'a, JsonKeyValue<'a>>>>()?;
                    AnyValue::KvList(
                        list.0
                            .values
                            .0
                            .into_iter()
                            .map(JsonKeyValue::into_model)
                            .collect(),
                    )
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
        }
        Ok(JsonAnyValue(value))
    }
}

/// `ArrayValue` / `KeyValueList`: `{"values": [...]}`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct JsonValueList<'a, T> {
    #[serde(default)]
    values: Nullable<Vec<T>>,
    #[serde(skip)]
    _body: std::marker::PhantomData<&'a ()>,
}

impl<T> Default for JsonValueList<'_, T> {
    fn default() -> Self {
        JsonValueList {
            values: Nullable(Vec::new()),
            _body: std::marker::PhantomData,
        }
    }
}

/// A double: a JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct DoubleVisitor;
        impl<'de> Visitor<'de> for DoubleVisitor {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Double, E> {
                Ok(Double(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Double, E> {
                Ok(Double(0.0))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Double, E> {
                match v {
                    "NaN" => Ok(Double(f64::NAN)),
                    "Infinity" => Ok(Double(f64::INFINITY)),
                    "-Infinity" => Ok(Double(f64::NEG_INFINITY)),
                    other => other
                        .parse()
                        .map(Double)
                        .map_err(|_| E::custom(format!("{other:?} is not a number"))),
                }
            }
        }
        deserializer.deserialize_any(DoubleVisitor)
    }
}

impl<'a> JsonRequest<'a> {
    fn into_model(self) -> Result<ExportRequest<'a>> {
        let mut resource_logs = Vec::with_capacity(self.resource_logs.0.len());
        for resource in self.resource_logs.0 {
            let scope_logs = resource
                .scope_logs
                .0
                .into_iter()
                .map(JsonScopeLogs::into_model)
                .collect::<Result<_>>()?;
            resource_logs.push(ResourceLogs {
                resource_attributes: pairs(resource.resource.0.attributes.0),
                scope_logs,
            });
        }
        Ok(ExportRequest { resource_logs })
    }
}

impl<'a> JsonScopeLogs<'a> {
    fn into_model(self) -> Result<ScopeLogs<'a>> {
        let scope = self.scope.0;
        Ok(ScopeLogs {
            scope_name: scope.name.0 .0,
            scope_version: scope.version.0 .0,
            scope_attributes: pairs(scope.attributes.0),
            log_records: self
                .log_records
                .0
                 .0
                .into_iter()
                .map(JsonLogRecord::into_model)
                .collect::<Result<_>>()?,
        })
    }
}

impl<'a> JsonLogRecord<'a> {
    fn into_model(self) -> Result<LogRecord<'a>> {
        Ok(LogRecord {
            time_unix_nano: self.time_unix_nano.0 .0,
            observed_time_unix_nano: self.observed_time_unix_nano.0 .0,
            severity_number: self.severity_number.0 .0,
            severity_text: self.severity_text.0 .0,
            body: self.body.0 .0,
            attributes: pairs(self.attributes.0),
            flags: self.flags.0 .0 as u32,
            trace_id: id_from_hex(&self.trace_id.0 .0)?,
            span_id: id_from_hex(&self.span_id.0 .0)?,
            event_name: self.event_name.0 .0,
        })
    }
}

impl<'a> JsonKeyValue<'a> {
    fn into_model(self) -> KeyValue<'a> {
        KeyValue {
            key: self.key.0 .0,
            value: self.value.0 .0,
        }
    }
}

fn pairs(pairs: Vec<JsonKeyValue<'_>>) -> Vec<KeyValue<'_>> {
    pairs.into_iter().map(JsonKeyValue::into_model).collect()
}

/// A trace or span id from OTLP/JSON's hex text.
fn id_from_hex<const N: usize>(text: &str) -> Result<Option<[u8; N]>> {
    let mut bytes = [0u8; N];
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() != 2 * N {
        return Err(OtlpError::Json(format!(
            "the id {text:?} has {} characters; a trace id has 32 hex digits and a span id 16",
            text.len()
        )));
    }
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let high = hex_digit(pair[0]);
        let low = hex_digit(pair[1]);
        let (Some(high), Some(low)) = (high, low) else {
            return Err(OtlpError::Json(format!("the id {text:?} is not hex")));
        };
        *byte = (high << 4) | low;
    }
    id_from_bytes(&bytes)
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}
