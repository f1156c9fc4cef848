//! The body of an app create or update: type-checked like the Cloud Controller's message schema,
//! validated like its model, and applied to an app.

use serde_json::{Map, Value, json};

use super::apps::App;
use super::errors::{APP_INVALID, APP_MEMORY_INVALID, INVALID_RELATION, MESSAGE_PARSE_ERROR};
use super::{DEFAULT_STACK_GUID, is_guid};
use crate::request::{Reply, Request};

const HEALTH_CHECK_TYPES: [&str; 4] = ["port", "process", "http", "none"];

pub(super) fn parse_body(request: &Request) -> Result<Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(_) | Err(_) => Err(MESSAGE_PARSE_ERROR.reply("invalid request body")),
    }
}

/// The Ruby class name the Cloud Controller's messages use for a JSON value.
fn ruby_class(value: &Value) -> &'static str {
    match value {
        Value::Null => "NilClass",
        Value::Bool(true) => "TrueClass",
        Value::Bool(false) => "FalseClass",
        Value::Number(number) if number.is_f64() => "Float",
        Value::Number(_) => "Integer",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Hash",
    }
}

/// The fields of a create or update request, type-checked like the Cloud Controller's message
/// schema; `Some(None)` is an explicit `null`.
#[derive(Default)]
pub(super) struct Changes {
    pub(super) name: Option<String>,
    pub(super) space_guid: Option<String>,
    pub(super) stack_guid: Option<Option<String>>,
    pub(super) buildpack: Option<Option<String>>,
    command: Option<Option<String>>,
    console: Option<bool>,
    debug: Option<Option<String>>,
    pub(super) diego: Option<bool>,
    pub(super) docker_image: Option<Option<String>>,
    docker_credentials: Option<(Option<String>, Option<String>)>,
    disk_quota: Option<Option<i64>>,
    environment_json: Option<Value>,
    enable_ssh: Option<bool>,
    health_check_type: Option<String>,
    health_check_timeout: Option<Option<i64>>,
    health_check_http_endpoint: Option<Option<String>>,
    instances: Option<i64>,
    memory: Option<Option<i64>>,
    production: Option<bool>,
    pub(super) state: Option<String>,
    ports: Option<Option<Vec<i64>>>,
}

/// Collects schema problems as `Field: x, Error: ...` like the Cloud Controller's messages.
struct Fields<'a> {
    body: &'a Map<String, Value>,
    problems: Vec<String>,
}

impl Fields<'_> {
    fn mismatch(&mut self, key: &str, expected: &str, value: &Value) {
        self.problems.push(format!(
            "Field: {key}, Error: Expected instance of {expected}, given an instance of {}",
            ruby_class(value)
        ));
    }

    fn string(&mut self, key: &str, required: bool) -> Option<String> {
        match self.body.get(key) {
            None if required => {
                self.problems
                    .push(format!("Field: {key}, Error: Missing field {key}"));
                None
            }
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => {
                let other = other.clone();
                self.mismatch(key, "String", &other);
                None
            }
        }
    }

    fn nullable_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.body.get(key)? {
            Value::Null => Some(None),
            _ => self.string(key, false).map(Some),
        }
    }

    fn integer(&mut self, key: &str) -> Option<i64> {
        let value = self.body.get(key)?;
        match value.as_i64() {
            Some(number) => Some(number),
            None => {
                let value = value.clone();
                self.mismatch(key, "Integer", &value);
                None
            }
        }
    }

    fn nullable_integer(&mut self, key: &str) -> Option<Option<i64>> {
        match self.body.get(key)? {
            Value::Null => Some(None),
            _ => self.integer(key).map(Some),
        }
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.body.get(key)? {
            Value::Bool(flag) => Some(*flag),
            // Unset flags take their defaults.
            Value::Null => None,
            other => {
                let other = other.clone();
                self.mismatch(key, "true or false", &other);
                None
            }
        }
    }

    fn object(&mut self, key: &str) -> Option<Value> {
        match self.body.get(key)? {
            Value::Object(map) => Some(Value::Object(map.clone())),
            Value::Null => Some(json!({})),
            other => {
                let other = other.clone();
                self.mismatch(key, "Hash", &other);
                None
            }
        }
    }

    fn integers(&mut self, key: &str) -> Option<Option<Vec<i64>>> {
        match self.body.get(key)? {
            Value::Null => Some(None),
            Value::Array(items) => {
                let numbers: Vec<Option<i64>> = items.iter().map(Value::as_i64).collect();
                if let Some(position) = numbers.iter().position(Option::is_none) {
                    let item = items[position].clone();
                    self.problems.push(format!(
                        "Field: {key}, Error: At index {position}: Expected instance of Integer, given an instance of {}",
                        ruby_class(&item)
                    ));
                    return None;
                }
                Some(Some(numbers.into_iter().flatten().collect()))
            }
            other => {
                let other = other.clone();
                self.mismatch(key, "Array", &other);
                None
            }
        }
    }

    fn credentials(&mut self, key: &str) -> Option<(Option<String>, Option<String>)> {
        match self.body.get(key)? {
            Value::Null => Some((None, None)),
            Value::Object(map) => {
                let field = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_owned);
                Some((field("username"), field("password")))
            }
            other => {
                let other = other.clone();
                self.mismatch(key, "Hash", &other);
                None
            }
        }
    }
}

impl Changes {
    /// Type-checks `body`; `name` and `space_guid` are required when creating.
    pub(super) fn parse(body: &Map<String, Value>, creating: bool) -> Result<Self, Reply> {
        let mut fields = Fields {
            body,
            problems: Vec::new(),
        };
        let changes = Self {
            name: fields.string("name", creating),
            space_guid: fields
                .string("space_guid", creating)
                .map(|guid| guid.to_ascii_lowercase()),
            stack_guid: fields.nullable_string("stack_guid"),
            buildpack: fields.nullable_string("buildpack"),
            command: fields.nullable_string("command"),
            console: fields.boolean("console"),
            debug: fields.nullable_string("debug"),
            diego: fields.boolean("diego"),
            docker_image: fields.nullable_string("docker_image"),
            docker_credentials: fields
                .credentials("docker_credentials")
                .or_else(|| fields.credentials("docker_credentials_json")),
            disk_quota: fields.nullable_integer("disk_quota"),
            environment_json: fields.object("environment_json"),
            enable_ssh: fields.boolean("enable_ssh"),
            health_check_type: fields.string("health_check_type", false),
            health_check_timeout: fields.nullable_integer("health_check_timeout"),
            health_check_http_endpoint: fields.nullable_string("health_check_http_endpoint"),
            instances: fields.integer("instances"),
            memory: fields.nullable_integer("memory"),
            production: fields.boolean("production"),
            state: fields.string("state", false),
            ports: fields.integers("ports"),
        };
        if fields.problems.is_empty() {
            Ok(changes)
        } else {
            Err(MESSAGE_PARSE_ERROR.reply(&fields.problems.join(", ")))
        }
    }

    /// Whether the body gave registry credentials.
    pub(super) fn docker_credentials_given(&self) -> bool {
        self.docker_credentials.is_some()
    }

    /// The model validations that follow the schema, in the Cloud Controller's order.
    pub(super) fn validate(&self) -> Result<(), Reply> {
        if let Some(space) = self.space_guid.as_deref()
            && !is_guid(space)
        {
            return Err(INVALID_RELATION.reply(&format!(
                "Could not find VCAP::CloudController::Space with guid: {space}"
            )));
        }
        if let Some(Some(stack)) = self.stack_guid.as_ref()
            && !is_guid(stack)
        {
            return Err(INVALID_RELATION.reply(&format!(
                "Could not find VCAP::CloudController::Stack with guid: {stack}"
            )));
        }
        if self
            .name
            .as_deref()
            .is_some_and(|name| name.trim().is_empty())
        {
            return Err(APP_INVALID.reply("name presence"));
        }
        if let Some(Some(memory)) = self.memory
            && memory <= 0
        {
            return Err(APP_MEMORY_INVALID.reply(""));
        }
        if self.instances.is_some_and(|instances| instances < 0) {
            return Err(APP_INVALID.reply("Number of instances less than 0"));
        }
        if let Some(Some(disk)) = self.disk_quota
            && disk <= 0
        {
            return Err(APP_INVALID.reply("disk_quota must be greater than 0"));
        }
        if self
            .state
            .as_deref()
            .is_some_and(|state| state != "STARTED" && state != "STOPPED")
        {
            return Err(APP_INVALID.reply("Invalid app state provided"));
        }
        if let Some(kind) = self.health_check_type.as_deref()
            && !HEALTH_CHECK_TYPES.contains(&kind)
        {
            return Err(APP_INVALID.reply(&format!(
                "health_check_type must be one of: {}",
                HEALTH_CHECK_TYPES.join(", ")
            )));
        }
        if let Some(Some(timeout)) = self.health_check_timeout
            && timeout < 0
        {
            return Err(
                APP_INVALID.reply("health_check_timeout must be greater than or equal to 0")
            );
        }
        if let Some(Some(ports)) = &self.ports
            && ports.iter().any(|port| !(1024..=65535).contains(port))
        {
            return Err(APP_INVALID.reply("Ports must be in the 1024-65535 range."));
        }
        Ok(())
    }

    /// Copies the given fields onto `app`; `state` is left to `start_or_stop`.
    pub(super) fn apply(&self, app: &mut App) {
        if let Some(name) = &self.name {
            app.name.clone_from(name);
        }
        if let Some(space) = &self.space_guid {
            app.space_guid = space.to_ascii_lowercase();
        }
        if let Some(stack) = &self.stack_guid {
            app.stack_guid = stack
                .as_deref()
                .unwrap_or(DEFAULT_STACK_GUID)
                .to_ascii_lowercase();
        }
        if let Some(buildpack) = &self.buildpack {
            // v2 names one buildpack; an empty name, like none, means "detect".
            app.buildpacks = buildpack
                .iter()
                .filter(|name| !name.is_empty())
                .cloned()
                .collect();
        }
        if let Some(command) = &self.command {
            app.command.clone_from(command);
        }
        if let Some(console) = self.console {
            app.console = console;
        }
        if let Some(debug) = &self.debug {
            app.debug.clone_from(debug);
        }
        if let Some(diego) = self.diego {
            app.diego = diego;
        }
        if let Some(image) = &self.docker_image {
            app.docker_image.clone_from(image);
        }
        if let Some(credentials) = &self.docker_credentials {
            app.docker_credentials.clone_from(credentials);
        }
        if let Some(disk) = self.disk_quota {
            app.disk_quota = disk.unwrap_or(1024);
        }
        if let Some(environment) = &self.environment_json {
            app.environment_json.clone_from(environment);
        }
        if let Some(ssh) = self.enable_ssh {
            app.enable_ssh = ssh;
        }
        if let Some(kind) = &self.health_check_type {
            app.health_check_type.clone_from(kind);
        }
        if let Some(timeout) = self.health_check_timeout {
            app.health_check_timeout = timeout;
        }
        if let Some(endpoint) = &self.health_check_http_endpoint {
            app.health_check_http_endpoint.clone_from(endpoint);
        }
        if let Some(instances) = self.instances {
            app.instances = instances;
        }
        if let Some(memory) = self.memory {
            app.memory = memory.unwrap_or(1024);
        }
        if let Some(production) = self.production {
            app.production = production;
        }
        // An empty list keeps the ports, as the platform ignores `"ports": []`.
        if let Some(ports) = &self.ports
            && ports.as_ref().is_none_or(|ports| !ports.is_empty())
        {
            app.ports.clone_from(ports);
        }
    }
}
