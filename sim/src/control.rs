//! The control API under `/__sim/`: recorded requests, faults, options, seeded installations,
//! the apps, and the SSH endpoint (`/__sim/ssh`: address and host key,
//! `/__sim/ssh/known_hosts`, `/__sim/ssh/log`, `/__sim/ssh-users`); it needs no token and is
//! not recorded.

use std::time::Instant;

use serde_json::{Value, json};

use crate::faults::Fault;
use crate::mittwald::SeedInstallation;
use crate::options::{options_json, patched};
use crate::request::{Reply, Request};
use crate::state::{Shared, State};

/// Prefix of the control API; requests under it need no token and are not recorded.
pub(crate) const CONTROL_PREFIX: &str = "/__sim/";

/// Answers a request under [`CONTROL_PREFIX`]; `too_large` when its body was refused.
pub(crate) fn control(shared: &Shared, request: &Request, too_large: bool) -> Reply {
    if too_large {
        return control_error(413, "request body too large");
    }
    let segments = request.segments();
    let method = request.method.as_str();
    match (method, &segments[1..]) {
        ("GET", ["requests"]) => {
            let state = shared.lock();
            Reply::json(200, &json!(state.requests))
        }
        ("DELETE", ["requests"]) => {
            shared.lock().requests.clear();
            Reply::empty(204)
        }
        ("POST", ["faults"]) => match serde_json::from_slice::<Fault>(&request.body) {
            Ok(fault) => match fault.problem() {
                None => {
                    shared.lock().faults.push(fault);
                    Reply::empty(204)
                }
                Some(problem) => control_error(400, &problem),
            },
            Err(error) => control_error(400, &format!("invalid fault: {error}")),
        },
        ("DELETE", ["faults"]) => {
            shared.lock().faults.clear();
            Reply::empty(204)
        }
        ("GET", ["stats"]) => {
            let state = shared.lock();
            Reply::json(
                200,
                &json!({
                    "requests": state.requests_received,
                    "faults_injected": state.faults_injected,
                }),
            )
        }
        ("PATCH", ["options"]) => {
            let mut state = shared.lock();
            match patched(&state.options, &request.body) {
                Ok((options, reseed)) => {
                    if reseed {
                        state.random = fastrand::Rng::with_seed(options.seed);
                    }
                    state.options = options;
                    Reply::json(200, &options_json(&state.options))
                }
                Err(error) => control_error(400, &format!("invalid options: {error}")),
            }
        }
        ("GET", ["options"]) => Reply::json(200, &options_json(&shared.lock().options)),
        ("POST", ["installations"]) => {
            match serde_json::from_slice::<SeedInstallation>(&request.body) {
                Ok(seed) => {
                    let mut state = shared.lock();
                    let State {
                        options, mittwald, ..
                    } = &mut *state;
                    match mittwald.seed(options, Instant::now(), seed) {
                        Ok(id) => Reply::json(201, &json!({ "id": id })),
                        Err(message) => control_error(400, &message),
                    }
                }
                Err(error) => control_error(400, &format!("invalid installation: {error}")),
            }
        }
        ("GET", ["installations"]) => {
            let bodies = shared.lock().mittwald.installation_bodies(Instant::now());
            Reply::json(200, &Value::Array(bodies))
        }
        ("GET", ["ssh"]) => Reply::json(
            200,
            &json!({
                "addr": shared.ssh.addr.to_string(),
                "host_key": shared.ssh.host_public_key(),
                "known_hosts": shared.ssh.known_hosts(),
            }),
        ),
        ("GET", ["ssh", "known_hosts"]) => Reply::raw(200, shared.ssh.known_hosts())
            .with_header("content-type", "text/plain; charset=utf-8"),
        ("GET", ["ssh", "log"]) => Reply::json(200, &json!(*shared.ssh.log())),
        ("GET", ["ssh-users"]) => {
            Reply::json(200, &Value::Array(shared.lock().mittwald.ssh_user_bodies()))
        }
        ("GET", ["cf", "apps"]) => {
            let bodies = shared.lock().cloudfoundry.app_bodies(Instant::now());
            Reply::json(200, &Value::Array(bodies))
        }
        ("GET", ["cf", "downtime", guid]) => {
            let downtime = shared.lock().cloudfoundry.downtime(guid, Instant::now());
            Reply::json(200, &json!({ "seconds": downtime.as_secs_f64() }))
        }
        _ => control_error(404, "route not found"),
    }
}

fn control_error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "type": "SimulatorError", "message": message }),
    )
}
