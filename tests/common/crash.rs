//! SIGKILL rounds under concurrent ingest, shared by the crash tests.
//!
//! Writer threads send NDJSON batches of keyed entries until told to stop
//! or until the server dies under them; the server is SIGKILLed while they
//! run and restarted, and after each restart every acknowledged key must be
//! stored, and none twice.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::{request, Server};

/// The keys the server acknowledged in the current round.
pub type Acked = Arc<Mutex<Vec<String>>>;

/// What a crash test writes, and what it checks besides the keys.
#[derive(Clone, Copy)]
pub struct Workload {
    pub partition: &'static str,
    /// The tag that carries each entry's key.
    pub tag_key: &'static str,
    pub writers: usize,
    pub batch_entries: usize,
    /// The entry for a key, without tags (the key tag is added to it).
    pub entry: fn(&str) -> Value,
    /// Also check that the stored entries' ids are unique.
    pub check_unique_ids: bool,
}

impl Workload {
    /// The keys of batch `batch` of the writer tagged `tag`.
    pub fn keys(&self, tag: &str, batch: usize) -> Vec<String> {
        (0..self.batch_entries)
            .map(|i| format!("{tag}-b{batch}-{i}"))
            .collect()
    }

    /// The NDJSON body of one entry per key.
    pub fn body(&self, keys: &[String]) -> String {
        let mut body = String::new();
        for key in keys {
            let mut line = (self.entry)(key);
            line["tags"] = json!({ self.tag_key: key });
            body.push_str(&line.to_string());
            body.push('\n');
        }
        body
    }

    /// Sends batches until `stop` or the server dies; records acknowledged keys.
    fn write(self, addr: String, tag: String, stop: Arc<AtomicBool>, acked: Acked) {
        let path = format!("/api/v1/partitions/{}/logs", self.partition);
        for batch in 0.. {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let keys = self.keys(&tag, batch);
            let body = self.body(&keys);
            let response = std::panic::catch_unwind(|| {
                request(
                    &addr,
                    "POST",
                    &path,
                    Some("application/x-ndjson"),
                    body.as_bytes(),
                )
            });
            match response {
                Ok(response) if response.status == 200 => acked.lock().unwrap().extend(keys),
                Ok(response) if response.status == 503 => {
                    std::thread::sleep(Duration::from_millis(5)) // back-off, not correctness
                }
                Ok(response) => {
                    panic!("unexpected status {}: {}", response.status, response.text())
                }
                Err(_) => return, // connection refused or reset: the server was killed
            }
        }
    }

    /// How often each key is stored in the partition. Reads every entry,
    /// oldest first, in pages of `STORED_PAGE_ENTRIES` (a fast machine
    /// stores more than one query may return): each page starts at the
    /// last page's newest timestamp, inclusive, and entries seen twice at
    /// that boundary are told apart by id. Checks that the pages together
    /// hold exactly as many entries as a count of the partition.
    pub fn stored_keys(&self, server: &Server) -> HashMap<String, usize> {
        const STORED_PAGE_ENTRIES: usize = 250_000;
        let count = json!({"partitions": [self.partition], "limit": 0});
        let body = server.query(&count);
        let total = body["total_count"].as_u64().unwrap() as usize;
        let mut entries: HashMap<String, Value> = HashMap::new();
        let mut start_ns: Option<i64> = None;
        loop {
            // Streamed: a page is past the JSON max_result_bytes.
            let query = json!({
                "partitions": [self.partition],
                "limit": STORED_PAGE_ENTRIES,
                "order": "asc",
                "time_range": {"start": start_ns},
            });
            let (status, _, mut lines) = super::ndjson_query(server, &query);
            assert_eq!(status, 200);
            let metadata = lines.pop().expect("a metadata line")["metadata"].clone();
            let page_full = lines.len() == STORED_PAGE_ENTRIES;
            if !page_full {
                assert_eq!(
                    metadata["total_count"].as_u64().unwrap() as usize,
                    lines.len(),
                    "{metadata}"
                );
            }
            let newest_ns = lines
                .last()
                .map(|entry| entry["timestamp_ns"].as_i64().unwrap());
            let before = entries.len();
            for entry in lines {
                let id = entry["id"].as_str().expect("entries have ids");
                // Without unique ids (an interval fsync may reuse the ids of
                // entries it lost), an entry is its id and its key.
                let name = if self.check_unique_ids {
                    id.to_string()
                } else {
                    format!("{id} {}", entry["tags"][self.tag_key])
                };
                entries.insert(name, entry);
            }
            if !page_full {
                break;
            }
            assert!(
                entries.len() > before && newest_ns > start_ns,
                "paging makes progress"
            );
            start_ns = newest_ns;
        }
        // Entries are named uniquely, so a duplicate would be a second name.
        assert_eq!(entries.len(), total, "entries read == entries counted");
        let mut keys = HashMap::new();
        for entry in entries.values() {
            let key = entry["tags"][self.tag_key].as_str().unwrap().to_string();
            *keys.entry(key).or_insert(0) += 1;
        }
        keys
    }

    /// Runs `rounds` rounds on a server whose partition exists: starts the
    /// writers (tagged `r<round>-w<writer>`), calls `before_kill` with the
    /// round and the keys acknowledged so far in it, SIGKILLs the server,
    /// joins the writers, restarts the server and checks that every key
    /// acknowledged in any round is stored, and none twice. Returns every
    /// acknowledged key.
    pub fn kill_rounds(
        &self,
        server: &mut Server,
        rounds: usize,
        mut before_kill: impl FnMut(usize, &Acked),
    ) -> HashSet<String> {
        let mut all_acked: HashSet<String> = HashSet::new();
        for round in 0..rounds {
            let stop = Arc::new(AtomicBool::new(false));
            let acked: Acked = Arc::new(Mutex::new(Vec::new()));
            let handles: Vec<_> = (0..self.writers)
                .map(|writer_id| {
                    let (workload, addr) = (*self, server.addr.clone());
                    let (stop, acked) = (stop.clone(), acked.clone());
                    let tag = format!("r{round}-w{writer_id}");
                    std::thread::spawn(move || workload.write(addr, tag, stop, acked))
                })
                .collect();
            before_kill(round, &acked);
            server.kill();
            stop.store(true, Ordering::Relaxed);
            for handle in handles {
                handle.join().expect("writer thread");
            }
            all_acked.extend(acked.lock().unwrap().drain(..));
            server.restart();
            let stored = self.stored_keys(server);
            let missing: Vec<&String> = all_acked
                .iter()
                .filter(|key| !stored.contains_key(*key))
                .collect();
            assert!(
                missing.is_empty(),
                "round {round}: {} of {} acknowledged entries lost, e.g. {:?}; server log:\n{}",
                missing.len(),
                all_acked.len(),
                &missing[..missing.len().min(5)],
                server.stderr()
            );
            let twice: Vec<_> = stored.iter().filter(|(_, n)| **n > 1).take(5).collect();
            assert!(
                twice.is_empty(),
                "round {round}: entries stored twice: {twice:?}"
            );
        }
        all_acked
    }
}
