//! A pure-Rust SMB2/3 client (MS-SMB2, MS-NLMP, MS-SPNG).
pub mod auth;
pub mod client;
pub mod crypto;
pub mod driver;
pub mod error;
pub mod proto;
pub mod security;
pub mod wire;

pub use client::{
    Auth, Client, ClientConfig, DurableToken, File, FileInfo, OpenOptions, Session, Tree,
};
pub use error::{Error, ProtocolError};
