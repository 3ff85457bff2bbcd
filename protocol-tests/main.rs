//! Live-server tests.
