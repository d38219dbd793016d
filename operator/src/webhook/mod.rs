//! The validating admission webhook: bad tenants are refused at `kubectl apply`, with every
//! field that is wrong. [`review`] decides, purely, from what the caches know.

pub mod review;
