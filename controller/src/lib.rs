//! Prescient, a predictive SDN controller: the controller's library, used by the `prescient`
//! binary and by the workspace integration tests.

pub mod agent;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod core;
pub mod driver;
pub mod evaluate;
pub mod hooks;
pub mod limits;
pub mod northbound;
pub mod openflow_app;
pub mod proxy_arp;
pub mod service;
pub mod services;
pub mod sizing;
pub mod store;
pub mod supervise;
pub mod tls;
pub mod vocab;
