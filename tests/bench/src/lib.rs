//! What municipio's benchmark and chaos suite share: a control plane of their own, the tenants
//! from the ISTAT list, the operator as a process, and a watch of the tenants.

pub mod cluster;
pub mod process;
pub mod setup;
pub mod tenants;
pub mod watch;
