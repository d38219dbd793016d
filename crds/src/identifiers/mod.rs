//! Domain identifiers, one type each, parsed once: a value of one of these types is valid by
//! construction, so code downstream of [`crate::validate`] never checks them again.

mod fiscal_code;
mod iban;
mod image;
mod io_service_id;
mod istat;
mod names;
mod quantity;
mod station;
mod web;

pub use fiscal_code::{EntityFiscalCode, FiscalCodeError};
pub use iban::{IbanError, ItalianIban};
pub use image::{ImageError, ImageRef};
pub use io_service_id::{IoServiceId, IoServiceIdError};
pub use istat::{CadastralCode, CadastralCodeError, IstatCode, IstatCodeError};
pub use names::{
    DnsLabel, EnvVarName, NameError, NamespaceName, check_dns_subdomain, check_label_key,
    check_label_value,
};
pub use quantity::{Quantity, QuantityError};
pub use station::{StationId, StationIdError};
pub use web::{EmailAddress, EmailError, HttpsUrl, UrlError};
