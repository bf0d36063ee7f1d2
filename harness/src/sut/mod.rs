//! The server under test (SUT): the servers known by name (`known`),
//! which server (`spec`), one process of it
//! (`process`), how the harness checks it is up without harming it
//! (`probe`), noticing at once that it died (`watch`), and keeping one
//! alive across cases (`slot`).

pub mod known;
pub mod probe;
pub mod process;
pub mod slot;
pub mod spec;
pub mod watch;

pub use probe::{await_handshake, probe, NotReady, Probe};
pub use process::{kill_all, Running};
pub use slot::ServerSlot;
pub use spec::{Builtin, Certs, Launch, Remote, ServerSpec, Verify};
pub use watch::ExitWatch;
