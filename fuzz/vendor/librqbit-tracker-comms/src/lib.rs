// fusevol fuzzing: the two response modules are public here (they are private upstream) so the
// `tracker_response` fuzz target can reach the parsers librqbit runs. Nothing else is changed.
pub mod tracker_comms;
pub mod tracker_comms_http;
pub mod tracker_comms_udp;

pub use tracker_comms::*;
pub use tracker_comms_udp::UdpTrackerClient;
