//! The `MunicipalityTenant` API of municipio: the types ([`v1alpha1`]), the domain identifiers
//! they carry ([`identifiers`]), the rules a schema cannot express ([`validate`]), and the CRD
//! generated from the types ([`crd`]).

pub mod crd;
pub mod decode;
pub mod identifiers;
pub mod v1alpha1;
pub mod validate;

pub use decode::decode;
pub use v1alpha1::{MunicipalityTenant, MunicipalityTenantSpec, MunicipalityTenantStatus};
pub use validate::{FieldError, FieldPath, Problem, ValidTenant, validate};
