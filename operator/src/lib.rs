//! The municipio operator: command-line entry points and, in later modules, the controller.

pub mod children;
pub mod claim;
pub mod config;
pub mod connectors;
pub mod controller;
pub mod dereference;
pub mod health;
pub mod http;
pub mod labels;
pub mod leader;
pub mod manifests;
pub mod metrics;
pub mod onboard;
pub mod ownership;
pub mod render;
pub mod runtime;
pub mod tenant_watch;
pub mod validate_files;
pub mod webhook;
pub mod yaml;
