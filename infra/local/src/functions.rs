//! Every function the local gateway can mount, by its binary name in template.yaml,
//! each with its own configuration sections read from the platform's variables.
//! Adding a function to the bundle means adding one line here.

use std::{collections::HashMap, sync::Arc};

use platform::{Platform, config::ConfigError, runtime::Handler};

/// The mounted handlers, or every configuration problem of every function at once.
pub fn mount(platform: &Arc<Platform>) -> Result<HashMap<String, Arc<dyn Handler>>, ConfigError> {
    let mut mounted = Mounted {
        platform,
        functions: HashMap::new(),
        problems: Vec::new(),
    };
    mounted.add("health", health::handler);
    mounted.add("auth", auth::handler);
    mounted.add("admin", admin::handler);
    mounted.add("content-api", content_api::handler);
    mounted.add("feeds", feeds::handler);
    mounted.add("content-admin", content_admin::handler);
    mounted.add("commerce-admin", commerce_admin::handler);
    mounted.add("commerce-api", commerce_api::handler);
    mounted.add("newsletter", newsletter::handler);
    mounted.add("campaigns", campaigns::handler);
    mounted.add("dashboard", dashboard::handler);
    mounted.add("payment-webhook", payment_webhook::handler);
    mounted.add("fallback", fallback::handler);
    mounted.add("openapi", openapi::handler);
    mounted.add("console", console::handler);
    if mounted.problems.is_empty() {
        Ok(mounted.functions)
    } else {
        Err(ConfigError {
            problems: mounted.problems,
        })
    }
}

struct Mounted<'a> {
    platform: &'a Arc<Platform>,
    functions: HashMap<String, Arc<dyn Handler>>,
    problems: Vec<String>,
}

impl Mounted<'_> {
    fn add<S, H>(&mut self, name: &str, make: fn(Arc<Platform>, S) -> platform::Result<H>)
    where
        S: platform::config::Section,
        H: Handler,
    {
        let settings = match self.platform.config.section::<S>() {
            Ok(settings) => settings,
            Err(err) => {
                self.problems.extend(err.problems);
                return;
            }
        };
        match make(self.platform.clone(), settings) {
            Ok(handler) => {
                self.functions.insert(name.to_owned(), Arc::new(handler));
            }
            Err(err) => self.problems.push(format!("{name}: {err}")),
        }
    }
}
