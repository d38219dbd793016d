//! The municipio operator: command-line entry points and, in later modules, the controller.

pub mod manifests;
pub mod validate_files;
