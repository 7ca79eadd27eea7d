//! The kit every context of the edge is built with: tenant resolution, sessions, CSRF, the
//! layout and role navigation, the route guard, extractors and the one mapping of failures
//! to HTTP. It imports no context.

pub(crate) mod assets;
pub mod auth;
pub(crate) mod call;
pub mod client;
pub mod csrf;
pub(crate) mod error;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod layout;
pub(crate) mod middleware;
pub mod nav;
pub(crate) mod platform;
pub mod session;
pub(crate) mod tenant;
pub(crate) mod time;
pub(crate) mod validity;
