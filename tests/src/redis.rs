//! A throwaway `redis-server` on a free loopback port, for tests that run several hosts
//! against one shared key-value store: the host crate's own test server (feature
//! `test-support`), re-exported.
//!
//! The server keeps nothing on disk and is killed when the value is dropped. Without
//! `redis-server` installed, [`TestRedis::start`] prints why and answers `None` so the test
//! can return early; under CI (`CI` set), where `.ci/run` installs it, that is a failure.
//!
//! ```no_run
//! # async fn demo() {
//! use hayon_e2e::{TestHost, redis::TestRedis};
//! let Some(redis) = TestRedis::start() else { return };
//! let a = TestHost::builder().key_value(redis.key_value_config()).start().await;
//! let b = TestHost::builder().key_value(redis.key_value_config()).start().await;
//! # }
//! ```

pub use hayon_host::keyvalue::test_redis::{TestRedis, free_port};
