//! The shippers' protocols: decoders that turn another log store's push
//! format into TimberDB entries (one folder per protocol).

pub mod loki;
