//! The identity connector (SPID and CIE, through the region's gateway as a Full aggregator):
//! its keys and the artifacts published for each municipality.

pub mod artifacts;
pub mod certificate;
pub mod federation;
pub mod keyring;
pub mod keys;
pub mod rotation;
pub mod saml;
pub mod xml;
