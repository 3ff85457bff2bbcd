pub mod auth;
pub mod crypto;
pub mod proto;
pub mod wire;
