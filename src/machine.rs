//! Facts about this machine: its host name and the resource figures agents report in heartbeats
//! (the reference's keys and rounding). A leaf: the client, the hub, config and deploy all read it.

use serde_json::{Map, Value, json};
use sysinfo::{Disks, System};

pub fn hostname() -> String {
    System::host_name().unwrap_or_else(|| "localhost".into())
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

/// `cpu_count`, `cpu_model`, load averages, memory (MB, MemAvailable as free) and `/` disk use.
pub fn collect() -> Map<String, Value> {
    let mut sys = System::new();
    sys.refresh_memory();
    sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
    let load = System::load_average();
    let total_mb = sys.total_memory() / 1_048_576;
    let free_mb = sys.available_memory() / 1_048_576;
    let used_pct = if total_mb > 0 { round(100.0 * (total_mb - free_mb) as f64 / total_mb as f64, 1) } else { 0.0 };
    let disks = Disks::new_with_refreshed_list();
    let disk_pct = disks
        .list()
        .iter()
        .find(|d| d.mount_point() == std::path::Path::new("/"))
        .filter(|d| d.total_space() > 0)
        .map(|d| round(100.0 * (d.total_space() - d.available_space()) as f64 / d.total_space() as f64, 1));
    let cpu_model = sys.cpus().first().map(|c| c.brand().trim().to_string()).unwrap_or_default();
    let mut m = json!({
        "cpu_count": sys.cpus().len(), "cpu_model": cpu_model,
        "load_avg_1m": round(load.one, 2), "load_avg_5m": round(load.five, 2), "load_avg_15m": round(load.fifteen, 2),
        "mem_total_mb": total_mb, "mem_free_mb": free_mb, "mem_used_percent": used_pct,
    });
    if let Some(d) = disk_pct {
        m["disk_used_percent"] = d.into();
    }
    match m {
        Value::Object(map) => map,
        _ => unreachable!("built as an object"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn real_figures() {
        let m = super::collect();
        assert!(m["cpu_count"].as_u64().unwrap() >= 1);
        assert!(m["mem_total_mb"].as_u64().unwrap() > 0);
        let used = m["mem_used_percent"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&used));
    }
}
