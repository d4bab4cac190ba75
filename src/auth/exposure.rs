//! The non-loopback rule: a node reachable from the network does not start
//! open. Without `auth.enabled`, `network.listen_addr` and the syslog
//! listeners must be loopback addresses, unless the operator says
//! `auth.allow_unauthenticated_remote = true` on purpose.

use crate::config::Config;

/// `Err`: the sentence to refuse the start with. `Ok`: warnings to log.
pub fn check(config: &Config, key_count: usize) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    let remote: Vec<String> = listeners(config)
        .filter(|(_, addr)| !addr.ip().is_loopback())
        .map(|(what, addr)| format!("{what} {addr}"))
        .collect();
    if config.auth.enabled {
        if key_count == 0 {
            warnings.push("auth is on and no API key exists yet: every request but /health is refused with 401; create the first admin key with `timberdb keys create --offline --role admin --data-dir DIR` while the server is stopped".to_string());
        }
        if let Some(tcp_or_udp) = syslog_remote(config) {
            warnings.push(format!("syslog listens on {tcp_or_udp}, beyond loopback: syslog carries no API key, so anyone who can reach it can write to partition {:?}", config.syslog.partition));
        }
        return Ok(warnings);
    }
    if remote.is_empty() {
        return Ok(warnings);
    }
    let listed = remote.join(" and ");
    if config.auth.allow_unauthenticated_remote {
        warnings.push(format!("auth is off while listening beyond loopback ({listed}), as auth.allow_unauthenticated_remote allows: anyone who can reach the port can read, write and delete every log"));
        return Ok(warnings);
    }
    Err(format!(
        "refusing to start: {listed} is not a loopback address and auth.enabled is false, so anyone who can reach it could read, write and delete every log. Turn auth on (auth.enabled = true or TIMBERDB_AUTH_ENABLED=true, after creating an admin key with `timberdb keys create --offline --role admin --data-dir DIR`), or listen on 127.0.0.1, or accept the risk with auth.allow_unauthenticated_remote = true (TIMBERDB_AUTH_ALLOW_UNAUTHENTICATED_REMOTE=true)"
    ))
}

fn listeners(config: &Config) -> impl Iterator<Item = (&'static str, std::net::SocketAddr)> + '_ {
    let http = std::iter::once(("network.listen_addr", config.network.listen_addr));
    let tcp = config
        .syslog
        .tcp_listen
        .map(|addr| ("syslog.tcp_listen", addr));
    let udp = config
        .syslog
        .udp_listen
        .map(|addr| ("syslog.udp_listen", addr));
    http.chain(tcp).chain(udp)
}

fn syslog_remote(config: &Config) -> Option<String> {
    let remote: Vec<String> = [config.syslog.tcp_listen, config.syslog.udp_listen]
        .into_iter()
        .flatten()
        .filter(|addr| !addr.ip().is_loopback())
        .map(|addr| addr.to_string())
        .collect();
    (!remote.is_empty()).then(|| remote.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str) -> Config {
        let mut config = Config::default();
        config.network.listen_addr = listen.parse().expect("addr");
        config
    }

    #[test]
    fn loopback_starts_open() {
        assert!(check(&config("127.0.0.1:7777"), 0).is_ok());
        assert!(check(&config("[::1]:7777"), 0).is_ok());
    }

    #[test]
    fn any_other_address_needs_auth_or_an_explicit_waiver() {
        let open = config("0.0.0.0:7777");
        let error = check(&open, 0).expect_err("refused");
        assert!(
            error.contains("0.0.0.0:7777") && error.contains("auth.enabled"),
            "{error}"
        );
        let mut waived = open.clone();
        waived.auth.allow_unauthenticated_remote = true;
        assert_eq!(check(&waived, 0).expect("waived").len(), 1);
        let mut locked = open;
        locked.auth.enabled = true;
        assert!(check(&locked, 1).expect("auth on").is_empty());
    }

    #[test]
    fn a_remote_syslog_listener_counts_too() {
        let mut config = config("127.0.0.1:7777");
        config.syslog.udp_listen = Some("0.0.0.0:1514".parse().expect("addr"));
        let error = check(&config, 0).expect_err("refused");
        assert!(error.contains("syslog.udp_listen"), "{error}");
    }
}
