//! The Zenoh session a bridge process opens: peer mode (no router),
//! explicit endpoints, multicast scouting off unless asked for.

use zenoh::{Config, Session, Wait};

/// The largest Zenoh message the bridge sends over a low-latency link.
///
/// Zenoh's low-latency transport does not fragment: each message goes as
/// one piece, which the receiver reads into a buffer of the link's
/// negotiated batch size and refuses when longer, closing the link (the
/// message is lost and the link is opened again). Zenoh 1.10 takes a TCP
/// link's batch size as the largest multiple of half the socket's MSS
/// below 65,495 bytes (65,475 over IPv6), the smaller of the two ends':
/// 49,152 bytes over Linux loopback (MSS 32,768), about 65,000 over
/// Ethernet, and never less than 32,738 (an MSS above 65,475 bytes).
/// The bridge cannot learn the figure at start, so it keeps below that
/// floor.
pub const LOW_LATENCY_MESSAGE: usize = 32_000;

/// Room left in a low-latency message for Zenoh's own headers (6 bytes
/// measured over loopback with a declared publisher) beside the key,
/// which is counted on its own.
const ZENOH_HEADROOM: usize = 64;

/// The largest sample (the bridge's header and its payload) a stream on
/// `key` may put over a low-latency link.
pub fn low_latency_sample_max(key: &str) -> usize {
    LOW_LATENCY_MESSAGE.saturating_sub(ZENOH_HEADROOM + key.len())
}

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
    /// Zenoh's low-latency unicast transport (`--low-latency`): a put
    /// writes its message to the TCP link from the calling thread (no
    /// hand-off to Zenoh's transmit thread, no batching in Zenoh, quality
    /// of service off). Used only where both ends of a link ask for it;
    /// a message must then fit in one transport batch
    /// ([`LOW_LATENCY_MESSAGE`]).
    pub low_latency: bool,
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
        if self.low_latency {
            // Zenoh refuses lowlatency with QoS on (its priorities need
            // the batching pipeline).
            set("transport/unicast/qos/enabled", "false")?;
            set("transport/unicast/lowlatency", "true")?;
        }
        Ok(config)
    }

    /// Opens the session.
    pub fn open(&self) -> Result<Session, String> {
        zenoh::open(self.config()?).wait().map_err(|e| format!("cannot open the zenoh session: {e}"))
    }
}
