//! The settings table against its documentation and its checks.

use super::*;

fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(move |n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
}

#[test]
fn defaults_match_reference_ports() {
    let c = Config::defaults();
    assert_eq!((c.port, c.dashboard_port), (9559, 8559));
    assert_eq!(c.retention_max_rows, 0);
}

#[test]
fn bad_values_name_the_variable_and_hide_secrets() {
    let err = with(&[("SCITEX_OROCHI_PORT", "99999"), ("SCITEX_OROCHI_CORS_ORIGINS", "https://a.org/path")])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("SCITEX_OROCHI_PORT: expected a TCP port"), "{err}");
    assert!(err.contains("SCITEX_OROCHI_CORS_ORIGINS"), "{err}");
    let secret = Var { name: "X", kind: Kind::Port, default: "", secret: true, doc: "" };
    let msg = secret.check("hunter2").unwrap_err();
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn rest_base_follows_the_hub_url() {
    assert_eq!(Config::defaults().http_base(), "http://127.0.0.1:8559");
    let c = with(&[("SCITEX_OROCHI_URL", "wss://orochi.example.org/")]).unwrap();
    assert_eq!(c.http_base(), "https://orochi.example.org");
    // The agent port itself: REST is on the dashboard port of that host.
    let c = with(&[("SCITEX_OROCHI_URL", "ws://10.0.0.5:9560/"), ("SCITEX_OROCHI_PORT", "9560"), ("SCITEX_OROCHI_DASHBOARD_PORT", "8560")])
        .unwrap();
    assert_eq!(c.http_base(), "http://10.0.0.5:8560");
    // Any other port is an origin serving both.
    let c = with(&[("SCITEX_OROCHI_URL", "wss://127.0.0.1:8443")]).unwrap();
    assert_eq!(c.http_base(), "https://127.0.0.1:8443");
    let c = with(&[("SCITEX_OROCHI_URL", "ws://hub.lan:8559/ws/agent/")]).unwrap();
    assert_eq!(c.http_base(), "http://hub.lan:8559");
}

#[test]
fn hub_url_appends_the_agent_path_to_a_base() {
    let url = |v: &str| with(&[("SCITEX_OROCHI_URL", v)]).unwrap().hub_url();
    assert_eq!(Config::defaults().hub_url(), "ws://127.0.0.1:9559/");
    assert_eq!(url("wss://orochi.example.org"), "wss://orochi.example.org/ws/agent/");
    assert_eq!(url("wss://orochi.example.org/"), "wss://orochi.example.org/ws/agent/");
    assert_eq!(url("wss://127.0.0.1:8443"), "wss://127.0.0.1:8443/ws/agent/");
    assert_eq!(url("wss://orochi.example.org/ws/agent"), "wss://orochi.example.org/ws/agent");
    assert_eq!(url("wss://orochi.example.org/ws/agent/?agent=a"), "wss://orochi.example.org/ws/agent/?agent=a");
    assert_eq!(url("https://orochi.example.org/edge/"), "wss://orochi.example.org/edge/ws/agent/");
    assert_eq!(url("http://hub.lan:8559?agent=a"), "ws://hub.lan:8559/ws/agent/?agent=a");
    // The agent listener itself keeps its URL.
    assert_eq!(url("ws://hub.lan:9559/"), "ws://hub.lan:9559/");
}

#[test]
fn tokens_in_urls_are_redacted() {
    assert_eq!(redact_token("wss://h/ws/agent/?token=s3cret&agent=a"), "wss://h/ws/agent/?token=***&agent=a");
    assert_eq!(redact_token("wss://h/ws/agent/"), "wss://h/ws/agent/");
    assert!(!redact_token("ws://h:1/?a=1&token=s3cret").contains("s3cret"));
}

#[test]
fn names_are_the_table_names_and_set_ones_are_known() {
    assert_eq!(names::PORT, "SCITEX_OROCHI_PORT");
    assert_eq!(names::CLOUDFLARE_API_BASE, "SCITEX_OROCHI_CLOUDFLARE_API_BASE");
    assert!(VARS.iter().all(|v| v.name.starts_with(PREFIX)));
    let c = with(&[(names::CLOUDFLARE_API_BASE, "https://api.cloudflare.com/client/v4/")]).unwrap();
    assert!(c.is_set(names::CLOUDFLARE_API_BASE), "set to its default is still set");
    assert!(!c.is_set(names::PORT));
}

#[test]
fn origins_are_exact() {
    let c = with(&[("SCITEX_OROCHI_CORS_ORIGINS", "https://a.org, http://b.org:8560")]).unwrap();
    assert_eq!(c.cors_origins, vec!["https://a.org", "http://b.org:8560"]);
    assert!(with(&[("SCITEX_OROCHI_CORS_ORIGINS", "*")]).is_err());
    assert!(with(&[("SCITEX_OROCHI_DB_SYNC", "off")]).is_err());
}

#[test]
fn trusted_proxies_are_addresses_or_networks() {
    let c = with(&[("SCITEX_OROCHI_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1")]).unwrap();
    let shown: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
    assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
    assert!(Config::defaults().trusted_proxies.is_empty());
    assert!(with(&[("SCITEX_OROCHI_TRUSTED_PROXIES", "10.0.0.0/33")]).is_err());
    assert!(with(&[("SCITEX_OROCHI_TRUSTED_PROXIES", "proxy.example.org")]).is_err());
}
