//! The Zenoh session a bridge process opens: peer mode (no router),
//! explicit endpoints, multicast scouting off unless asked for.

use zenoh::{Config, Session, Wait};

/// Where a bridge meets its peers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// Endpoints to listen on (`tcp/0.0.0.0:7447`).
    pub listen: Vec<String>,
    /// Endpoints of peers to connect to (`tcp/10.0.0.2:7447`); tried
    /// again in the background until they answer.
    pub connect: Vec<String>,
    /// Whether to find peers by multicast scouting (off by default: a
    /// bridge talks to the hosts it is told about).
    pub scout: bool,
}

impl Link {
    /// The Zenoh configuration for this link.
    pub fn config(&self) -> Result<Config, String> {
        let json_list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|e| format!("{e:?}")).collect();
            format!("[{}]", quoted.join(","))
        };
        let mut config = Config::default();
        let mut set = |key: &str, value: &str| {
            config.insert_json5(key, value).map_err(|e| format!("zenoh configuration {key} = {value}: {e}"))
        };
        set("mode", "\"peer\"")?;
        set("listen/endpoints", &json_list(&self.listen))?;
        set("connect/endpoints", &json_list(&self.connect))?;
        // Give up waiting for a peer at open after a second and keep
        // trying in the background, soon: a restarted peer is found
        // within half a second.
        set("connect/timeout_ms", "1000")?;
        set("connect/exit_on_failure", "false")?;
        set("connect/retry", "{period_init_ms: 100, period_max_ms: 500, period_increase_factor: 2}")?;
        // Scouting finds peers nobody named: by multicast, and by gossip
        // (peers telling each other about third peers). Both off unless
        // asked for: a bridge talks to the endpoints it is given.
        let scout = if self.scout { "true" } else { "false" };
        set("scouting/multicast/enabled", scout)?;
        set("scouting/gossip/enabled", scout)?;
        Ok(config)
    }

    /// Opens the session.
    pub fn open(&self) -> Result<Session, String> {
        zenoh::open(self.config()?).wait().map_err(|e| format!("cannot open the zenoh session: {e}"))
    }
}
