//! The shared guest library every Hayon connector component is built on.
//!
//! A platform crate implements [`Connector`] for one type and invokes
//! [`export_connector!`]; the result is a WASI Preview 2 component that serves the
//! platform over `wasi:http/incoming-handler` and as the typed `hayon:connector/connector`
//! interface, both running the same code. Everything that is the same across platforms
//! lives here:
//!
//! | module | job |
//! |---|---|
//! | [`error`] | [`ApiError`], the contract's codes, and the one mapping to HTTP status |
//! | [`envelope`], [`http`], [`router`] | the routes, the JSON envelope, the body limit |
//! | [`auth`] | the HS256 bearer token and the [`UserId`] it names |
//! | [`secret`], [`seal`] | redacting secret types; AEAD sealing under the operator key |
//! | [`config`] | `wasi:config` values, `not_configured` for missing ones |
//! | [`store`], [`account`] | `wasi:keyvalue` with compare-and-swap; account records |
//! | [`state`] | OAuth `state` (signed, bound, expiring, single-use) and PKCE |
//! | [`outbound`], [`upstream`] | platform calls with timeouts; failure classification |
//! | [`oauth2`] | the OAuth 2.0 authorization-code flow; Meta's error codes |
//! | [`callback`] | callback queries (fragments dropped) and the front-end redirect |
//! | [`time`] | RFC 3339 timestamps and the clock |
//! | [`env`](mod@env) | the services an operation runs with ([`Env`]) |
//! | [`typed`] | the `hayon:connector/connector` export |
//! | [`wasi`], [`logging`] | the only code that calls WASI |
//! | [`testing`] | in-memory parts for native tests |
//!
//! Pure logic never calls WASI: storage, configuration, outbound HTTP and the clock are
//! traits, so `cargo test -p hayon-guest` (and each connector's tests) run natively.

extern crate self as hayon_guest;

pub mod account;
pub mod auth;
pub mod callback;
pub mod config;
pub mod connector;
pub mod env;
pub mod envelope;
pub mod error;
pub mod http;
pub mod logging;
pub mod oauth2;
pub mod outbound;
pub mod router;
pub mod seal;
pub mod secret;
pub mod state;
pub mod store;
pub mod testing;
pub mod time;
pub mod typed;
pub mod upstream;
pub mod wasi;

pub use account::{Account, AccountRecord, AccountStatus, AccountStore};
pub use auth::UserId;
pub use callback::{CallbackError, CallbackQuery, CallbackReason};
pub use connector::{
    AuthKind, BeginOutcome, Completion, Connector, Credentials, DisconnectOutcome, Platform,
};
pub use env::Env;
pub use error::ApiError;
pub use outbound::{OutboundRequest, OutboundResponse};
pub use time::Timestamp;
pub use upstream::{FailureClass, Phase, UpstreamFailure};

/// Bindings generated from `wit/connector.wit` (world `connector-component`), with an
/// export macro that platform crates reach through [`export_connector!`].
pub mod bindings {
    #![allow(missing_docs, clippy::all)]
    wit_bindgen::generate!({
        world: "connector-component",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_connector_world",
        default_bindings_module: "hayon_guest::bindings",
        runtime_path: "hayon_guest::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    pub use spin_sdk;
    pub use wit_bindgen;
}

/// Exports connector type `$connector` (which implements [`Connector`]) as the component's
/// `wasi:http/incoming-handler` and `hayon:connector/connector`.
///
/// Invoke it once, at the root of the platform crate:
///
/// ```ignore
/// pub struct Bluesky;
/// impl hayon_guest::Connector for Bluesky { /* … */ }
/// hayon_guest::export_connector!(Bluesky);
/// ```
///
/// The exports exist only when compiling for `wasm32` — the macro puts that `cfg` on what
/// it generates, so the invocation needs none. Native builds (the unit tests) export
/// nothing: native linkers refuse the component model's export names, such as
/// `hayon:connector/connector@0.1.0#begin`.
///
/// The platform crate must also depend on `spin-sdk` (5.2, `default-features = false`):
/// the `#[spin_sdk::http_component]` attribute used here names `::spin_sdk` in the code it
/// generates.
#[macro_export]
macro_rules! export_connector {
    ($connector:ident) => {
        // Only WebAssembly builds export (see the macro's documentation).
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        mod __hayon_connector_export {
            use $crate::bindings::exports::hayon::connector::connector as wit;

            pub struct Component;

            impl wit::Guest for Component {
                fn describe() -> wit::PlatformInfo {
                    $crate::typed::describe::<super::$connector>()
                }

                fn begin(
                    user: String,
                    credentials: Option<wit::Credentials>,
                ) -> Result<wit::BeginOutcome, wit::ConnectorError> {
                    $crate::typed::begin::<super::$connector>(user, credentials)
                }

                fn complete(query: String) -> Result<wit::Completion, wit::CallbackError> {
                    $crate::typed::complete::<super::$connector>(query)
                }

                fn refresh(user: String) -> Result<Vec<wit::Account>, wit::ConnectorError> {
                    $crate::typed::refresh::<super::$connector>(user)
                }

                fn disconnect(
                    user: String,
                ) -> Result<wit::DisconnectOutcome, wit::ConnectorError> {
                    $crate::typed::disconnect::<super::$connector>(user)
                }

                fn status(user: String) -> Result<Vec<wit::Account>, wit::ConnectorError> {
                    $crate::typed::status::<super::$connector>(user)
                }
            }

            $crate::bindings::export_connector_world!(Component with_types_in $crate::bindings);

            #[::spin_sdk::http_component]
            fn handle_http(
                request: ::spin_sdk::http::IncomingRequest,
                response_out: ::spin_sdk::http::ResponseOutparam,
            ) {
                $crate::wasi::handle_http::<super::$connector>(request, response_out.into_inner());
            }
        }
    };
}
