//! mittwald: deploy the code of `BERTH_PATH` into the installation's directory over SSH, run
//! the install command, restart the app and wait until it runs again.

pub mod known_hosts;
pub mod ssh;
pub mod tree;
