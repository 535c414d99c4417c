//! Support for the real-CLI tests: the scripted model server and the CLIs' throwaway homes.

pub mod clis;
pub mod model_server;
