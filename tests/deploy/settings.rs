//! Which Cloudflare settings a deploy uses: the controller's own configuration when it was
//! set there (even to the table default), else the instance env file. No environment is read:
//! the configuration is built from a lookup.

use std::path::Path;

use scitex_orochi::config::{Config, names};
use scitex_orochi::deploy::envfile::EnvFile;
use scitex_orochi::deploy::purge;

fn config(pairs: &[(&str, &str)]) -> Config {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(move |n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())).unwrap()
}

fn env_file(text: &str) -> EnvFile {
    EnvFile::parse(Path::new("stable.env"), text)
}

const DEFAULT_BASE: &str = "https://api.cloudflare.com/client/v4/";

#[test]
fn the_controllers_own_settings_win_over_the_env_file() {
    let file = env_file(&format!(
        "{}=file-token\n{}=file-zone\n{}=http://127.0.0.1:9/client/v4/\n",
        names::CLOUDFLARE_API_TOKEN,
        names::CLOUDFLARE_ZONE_ID,
        names::CLOUDFLARE_API_BASE
    ));
    // Set to the default on purpose: still the controller's choice.
    let own = config(&[(names::CLOUDFLARE_API_TOKEN, "own-token"), (names::CLOUDFLARE_API_BASE, DEFAULT_BASE)]);
    let s = purge::settings(&own, Some(&file)).unwrap();
    assert_eq!((s.token.as_str(), s.zone_id.as_str(), s.api_base.as_str()), ("own-token", "file-zone", DEFAULT_BASE));

    // Not set: the env file's values, the default only where the file has none.
    let s = purge::settings(&config(&[]), Some(&file)).unwrap();
    assert_eq!((s.token.as_str(), s.api_base.as_str()), ("file-token", "http://127.0.0.1:9/client/v4/"));
    let partial = env_file(&format!("{}=t\n{}=z\n", names::CLOUDFLARE_API_TOKEN, names::CLOUDFLARE_ZONE_ID));
    assert_eq!(purge::settings(&config(&[]), Some(&partial)).unwrap().api_base, DEFAULT_BASE);
}

#[test]
fn no_token_or_no_zone_means_no_purge() {
    assert!(purge::settings(&config(&[]), None).is_none());
    assert!(purge::settings(&config(&[(names::CLOUDFLARE_API_TOKEN, "t")]), None).is_none());
    let only_zone = env_file(&format!("{}=z\n", names::CLOUDFLARE_ZONE_ID));
    assert!(purge::settings(&config(&[]), Some(&only_zone)).is_none());
    assert!(purge::settings(&config(&[(names::CLOUDFLARE_API_TOKEN, "t")]), Some(&only_zone)).is_some());
}
